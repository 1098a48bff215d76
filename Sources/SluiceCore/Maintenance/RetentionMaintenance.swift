import Foundation
import Logging
import SluiceMetrics
import SluiceStore

/// Applies each tenant's `data_retention_period_days`: finished files older than it lose their staged
/// copy, ledger entry and rejects, stream micro-batches their ledger entry and rejects, reports are deleted, and daily report partitions older than
/// every tenant's retention are dropped.
///
/// Files still waiting for ingestion are never removed, whatever their age.
public struct RetentionMaintenance: Sendable {
    /// What one pass removed.
    public struct Removed: Sendable, Equatable {
        public var files = 0
        public var reports = 0
        public var partitions: [String] = []
    }

    private let pool: PostgresConnectionPool
    private let tenants: TenantService
    private let staging: StagingArea
    private let partitions: ReportPartitionMaintenance
    private let logger: Logger

    public init(pool: PostgresConnectionPool, tenants: TenantService, staging: StagingArea, logger: Logger) {
        self.pool = pool
        self.tenants = tenants
        self.staging = staging
        self.partitions = ReportPartitionMaintenance(pool: pool, logger: logger)
        self.logger = logger
    }

    /// One pass over every tenant, as of `now`.
    @discardableResult
    public func runOnce(now: Date = Date()) async throws -> Removed {
        var removed = Removed()
        var longestRetention: Int?
        for tenant in try await tenants.list() {
            let days = tenant.definition.serviceAgreement.dataRetentionDays
            longestRetention = max(longestRetention ?? days, days)
            let cutoff = now.addingTimeInterval(-Double(days) * 86_400)
            removed.files += try await removeFiles(tenant: tenant.id, finishedBefore: cutoff)
            // Stream micro-batches' ledger entries go with their rejects.
            try await pool.execute("DELETE FROM sluice.stream_batches WHERE tenant_id = $1 AND committed_at < $2",
                                   [.init(tenant.id), .init(cutoff)])
            removed.reports += try await partitions.deleteReports(tenant: tenant.id, olderThan: cutoff)
        }
        if let longestRetention {
            removed.partitions = try await partitions.dropPartitions(olderThan: now.addingTimeInterval(-Double(longestRetention) * 86_400))
        }
        return removed
    }

    /// Deletes the ledger entries (and so the rejects) of the tenant's files finished before `cutoff`,
    /// then their staged copies, `batchSize` at a time so no pass holds every expired row at once. A crash
    /// in between leaves unrecorded files, which staging recovery removes.
    private func removeFiles(tenant: String, finishedBefore cutoff: Date) async throws -> Int {
        var removed = 0
        while !Task.isCancelled {
            let rows = try await pool.query("""
                DELETE FROM sluice.files WHERE id IN (
                    SELECT id FROM sluice.files
                    WHERE tenant_id = $1 AND state IN ('succeeded', 'failed', 'partial', 'deleted')
                      AND coalesce(ingest_finished_at, state_changed_at) < $2
                    LIMIT $3)
                RETURNING id, stored_name
                """, [.init(tenant), .init(cutoff), .init(Self.batchSize)])
            let paths = try rows.map { row in
                try staging.finalPath(tenant: tenant, id: try row.decode(String.self, "id") ?? "",
                                      sanitizedName: try row.decode(String.self, "stored_name") ?? "")
            }
            try await staging.removeFiles(paths)
            removed += paths.count
            if paths.count < Self.batchSize { break }
        }
        return removed
    }

    /// Files removed per statement.
    static let batchSize = 1000

    /// Runs a pass every `interval` until cancelled, counting what it removes.
    public func run(components: ComponentRegistry, registry: MetricsRegistry, interval: Duration = .seconds(3600)) async {
        let name = "retention"
        let removedTotal = registry.counter(name: "sluice_retention_removed_total",
                                            help: "Files, reports and report partitions removed by retention.",
                                            labelNames: ["kind"])
        components.setRunning(name, true)
        defer { components.setRunning(name, false) }
        while !Task.isCancelled {
            do {
                let removed = try await runOnce()
                removedTotal.labels("files").increment(by: Double(removed.files))
                removedTotal.labels("reports").increment(by: Double(removed.reports))
                removedTotal.labels("partitions").increment(by: Double(removed.partitions.count))
                if removed != Removed() {
                    logger.info("retention removed old data", metadata: [
                        "files": "\(removed.files)", "reports": "\(removed.reports)", "partitions": "\(removed.partitions)"])
                }
            } catch {
                logger.warning("retention maintenance failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
