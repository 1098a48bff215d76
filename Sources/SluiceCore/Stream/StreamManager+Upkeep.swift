import Foundation
import SluiceStore

/// The stream manager's periodic work: window reports, throttles that expire, instances that run without
/// traffic, definitions read again, idempotency keys purged; and tenants defined or deleted.
extension StreamManager {
    func writeWindows() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.window)
            await writeWindowReports()
        }
    }

    /// Closes every tenant's window and writes the reports of those with traffic.
    func writeWindowReports() async {
        let epoch = Int(Date().timeIntervalSince1970 * 1000)
        // By tenant: each report adds to its tenant's sums (row locks held to the commit), and every process
        // taking them in the same order cannot deadlock with another.
        let reports = streams.withLock { Array($0.values) }.compactMap { $0.closeWindow(sourceID: "\(instanceID)-\(epoch)") }
            .sorted { $0.tenantID < $1.tenantID }
        guard !reports.isEmpty else { return }
        do {
            try await pool.withTransaction { connection in
                for report in reports {
                    // A tenant deleted meanwhile has no report to keep.
                    guard try !connection.query("SELECT 1 FROM sluice.tenants WHERE id = $1", [.init(report.tenantID)]).isEmpty else { continue }
                    try IngestionReports.insert(report, on: connection)
                }
            }
        } catch {
            logger.warning("stream window reports not written", metadata: ["error": "\(error)", "reports": "\(reports.count)"])
        }
    }

    func upkeep() async {
        var lastPurge = ContinuousClock.now - .seconds(3600)
        var lastListing = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled {
            for stream in streams.withLock({ Array($0.values) }) {
                stream.expireThrottle()
                let missing = stream.missingInstances(whenIdle: true)
                if missing > 0 { start(missing, of: stream) }
            }
            do {
                if lastListing.duration(to: .now) >= .seconds(30) {
                    lastListing = .now
                    try await keepAlwaysOnInstances()
                }
                if lastPurge.duration(to: .now) >= .seconds(600) {
                    lastPurge = .now
                    try await pool.execute("DELETE FROM sluice.stream_idempotency WHERE created_at < now() - make_interval(secs => $1)",
                                           [.init(configuration.idempotencyRetention.secondsValue)])
                }
            } catch {
                logger.warning("stream upkeep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Tenants whose instances run without traffic (`min_instances`, or `start_on_demand: false`) get their
    /// stream here; deleted tenants' streams are dropped.
    private func keepAlwaysOnInstances() async throws {
        let records = try await tenants.list()
        let known = Set(records.map(\.definition.id))
        for record in records { defined(record.definition) }
        for stream in streams.withLock({ Array($0.values) }) where !known.contains(stream.tenant) {
            forget(tenant: stream.tenant)
        }
    }

    /// Takes a tenant's new or replaced definition at once: a running stream follows it, and instances that run
    /// without traffic (`min_instances`, `start_on_demand: false`) start.
    public func defined(_ definition: TenantDefinition) {
        definitions.withLock { $0[definition.id] = (definition, .now) }
        let agreement = definition.serviceAgreement.stream
        guard let stream = streams.withLock({ $0[definition.id] })
            ?? (agreement.minInstances > 0 || !agreement.startOnDemand ? self.stream(for: definition) : nil) else { return }
        stream.update(definition)
        start(stream.missingInstances(whenIdle: true), of: stream)
    }

    /// Stops a deleted tenant's stream: queued requests fail, instances stop.
    public func forget(tenant: String) {
        definitions.withLock { _ = $0.removeValue(forKey: tenant) }
        guard let stream = streams.withLock({ $0.removeValue(forKey: tenant) }) else { return }
        stream.close(failing: ServiceError.tenantNotFound(tenant))
    }
}
