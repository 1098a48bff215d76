import Foundation
import Logging
@testable import SluiceCore
import SluiceMetrics
import SluiceStore
import SluiceTestSupport

/// Synthetic reports in real partitions for the monitor's tests.
enum MonitorTestData {
    /// 2026-11-21 10:00:00 UTC.
    static let tenOClock = Date(timeIntervalSince1970: 1_795_219_200 + 10 * 3600)

    static func migratedPool() async throws -> PostgresConnectionPool {
        let pool = try await TestPostgres.makePool()
        _ = try await PlatformSchema.migrator.migrate(using: pool)
        try await ReportPartitionMaintenance(pool: pool).ensurePartitions(from: tenOClock)
        return pool
    }

    static func insert(_ reports: [IngestionReport], into pool: PostgresConnectionPool) async throws {
        try await pool.withTransaction { connection in
            for report in reports { try IngestionReports.insert(report, on: connection) }
        }
    }

    /// A file of `tenant` started at `start`, received `waited` seconds before and taking 5 s.
    static func file(_ tenant: String, at start: Date, rows: Int64?, rejected: Int64 = 0, waited: Double = 30,
                     outcome: IngestionReport.Outcome = .succeeded) -> IngestionReport {
        IngestionReport(tenantID: tenant, kind: .batch, sourceID: "f\(UUID().uuidString.prefix(8))", bytes: 1000, rowsTotal: rows,
                        rowsIngested: rows.map { $0 - rejected }, rowsRejected: rows == nil ? nil : rejected,
                        rejectedByReason: rejected > 0 ? ["bad_value": rejected] : [:], receivedAt: start.addingTimeInterval(-waited),
                        startedAt: start, finishedAt: start.addingTimeInterval(5), appKind: "csv", outcome: outcome)
    }

    /// A stream window of `tenant` from `start` to 10 s later: `messages` taken, `failed` of them not committed,
    /// `rejected` of the committed rejected, each committed message's latency `latency` seconds.
    static func window(_ tenant: String, at start: Date, messages: Int64, failed: Int64 = 0, rejected: Int64 = 0,
                       latency: Double = 0.2, queue: Int = 0) -> IngestionReport {
        var details = StreamWindowDetails()
        details.messagesReceived = messages
        details.bytesReceived = messages * 50
        details.messagesFailed = failed
        let committed = messages - failed
        details.latencyMeanSeconds = latency
        details.latencyMaxSeconds = latency
        details.latencyAtMost = LatencyBuckets.bounds.map { latency <= $0 ? committed : 0 }
        details.queueMessages = queue
        details.queueOldestAgeSeconds = queue > 0 ? 2 : nil
        return IngestionReport(tenantID: tenant, kind: .stream, sourceID: "w\(UUID().uuidString.prefix(8))", bytes: messages * 50,
                               rowsTotal: committed, rowsIngested: committed - rejected, rowsRejected: rejected,
                               rejectedByReason: rejected > 0 ? ["bad_value": rejected] : [:], startedAt: start,
                               finishedAt: start.addingTimeInterval(10), appKind: "declarative",
                               outcome: failed == 0 && rejected == 0 ? .succeeded : .partial, stream: details)
    }

    /// A monitor of `pool` with `rules` in a fresh configuration directory.
    static func monitor(_ pool: PostgresConnectionPool, rules: String, notifications: String? = nil,
                        receiver: RecordingReceiver = RecordingReceiver(),
                        registry: MetricsRegistry = MetricsRegistry()) throws -> (Monitor, RecordingReceiver, String) {
        let directory = try RuleFileTests.directory(rules: ["rules.yaml": rules], notifications: notifications)
        return (try monitor(pool, directory: directory, receiver: receiver, registry: registry), receiver, directory)
    }

    /// A monitor of `pool` with the configuration in `directory`: another process's, or this one's after a restart.
    static func monitor(_ pool: PostgresConnectionPool, directory: String, receiver: RecordingReceiver,
                        registry: MetricsRegistry = MetricsRegistry()) throws -> Monitor {
        let monitor = Monitor(configuration: .init(directory: directory), pool: pool,
                              tenants: TenantService(pool: pool, staging: StagingArea(root: directory + "/staging", instance: "test"),
                                                     logger: Logger(label: "test")),
                              receivers: [receiver], metrics: MonitorMetrics(registry: registry), logger: Logger(label: "test"))
        try monitor.reload()
        return monitor
    }

    static func tenants(_ pool: PostgresConnectionPool, _ metadata: [String: String]) async throws {
        for (tenant, tier) in metadata {
            try await pool.execute("INSERT INTO sluice.tenants (id, display_name, definition, source) VALUES ($1, $1, $2::jsonb, 'api')",
                                   [.init(tenant), .init("{\"metadata\": {\"tier\": \"\(tier)\"}}")])
        }
    }

    /// Reject ratios per minute from 10:00: 50 % for three minutes, then none.
    static func seedRejects(_ pool: PostgresConnectionPool, tenant: String = "tenant-a") async throws {
        try await insert((0..<8).map { minute in
            file(tenant, at: tenOClock.addingTimeInterval(Double(minute) * 60).addingTimeInterval(5), rows: 100, rejected: minute < 3 ? 50 : 0,
                                 outcome: minute < 3 ? .partial : .succeeded)
        }, into: pool)
    }
}
