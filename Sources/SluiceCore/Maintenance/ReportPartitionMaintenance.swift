import Foundation
import Logging
import SluiceMetrics
import SluiceStore

/// Creates and drops the daily partitions of `sluice.ingestion_reports` and applies retention.
///
/// Partition DDL runs under a transaction-scoped advisory lock, so several instances may run it at once.
public struct ReportPartitionMaintenance: Sendable {
    private static let defaultPartition = PostgresIdentifier.qualified(PlatformSchema.name, "ingestion_reports_default")
    private static let lockName = "sluice.ingestion_reports.partitions"

    private let pool: PostgresConnectionPool
    private let logger: Logger

    public init(pool: PostgresConnectionPool, logger: Logger = Logger(label: "sluice.reports")) {
        self.pool = pool
        self.logger = logger
    }

    /// The name of the daily partition holding reports started at `date` (UTC day), e.g. `ingestion_reports_20261121`.
    public static func partitionName(for date: Date) -> String {
        ReportPartitionDay(containing: date).name
    }

    /// Creates the missing daily partitions from the day before `from` through `daysAhead` days after it
    /// (UTC days); returns the names created. Reports already in the default partition for a new day are
    /// moved into it.
    @discardableResult
    public func ensurePartitions(from: Date, daysAhead: Int = 7) async throws -> [String] {
        guard (0...366).contains(daysAhead) else { throw ServiceError(.invalid, "invalid_argument", "daysAhead must be in 0...366") }
        let today = ReportPartitionDay(containing: from)
        let days = (-1...daysAhead).map { today.advanced(by: $0) }
        return try await pool.withTransaction { connection in
            try Self.lock(connection)
            let existing = try Self.partitionDays(connection)
            var created: [String] = []
            for day in days where !existing.contains(day) {
                try Self.createPartition(day, on: connection)
                created.append(day.name)
            }
            return created
        }
    }

    /// Drops the daily partitions that lie entirely before `cutoff`; returns the names dropped, oldest first.
    @discardableResult
    public func dropPartitions(olderThan cutoff: Date) async throws -> [String] {
        try await pool.withTransaction { connection in
            try Self.lock(connection)
            let old = try Self.partitionDays(connection).filter { $0.advanced(by: 1).start <= cutoff }.sorted()
            for day in old {
                try connection.execute("DROP TABLE IF EXISTS \(PostgresIdentifier.qualified(PlatformSchema.name, day.name))")
            }
            return old.map(\.name)
        }
    }

    /// Per-tenant retention: deletes the tenant's reports started before `cutoff`; returns how many.
    @discardableResult
    public func deleteReports(tenant: String, olderThan cutoff: Date) async throws -> Int {
        try await pool.execute(
            "DELETE FROM \(IngestionReports.table) WHERE tenant_id = $1 AND started_at < $2", [.init(tenant), .init(cutoff)])
    }

    /// Rows in the default partition: reports whose day had no partition when they were written.
    public func defaultPartitionRowCount() async throws -> Int {
        try await pool.query("SELECT count(*)::int AS n FROM \(Self.defaultPartition)").first?.decode(Int.self, "n") ?? 0
    }

    /// How many consecutive days after the UTC day of `date` have a partition.
    public func partitionsAheadDays(from date: Date) async throws -> Int {
        let days = try await pool.withConnection { try Self.partitionDays($0) }
        var day = ReportPartitionDay(containing: date).advanced(by: 1)
        var count = 0
        while days.contains(day) {
            count += 1
            day = day.advanced(by: 1)
        }
        return count
    }

    /// Ensures the partitions and refreshes the gauges every `interval` until cancelled.
    public func run(components: ComponentRegistry, registry: MetricsRegistry, interval: Duration = .seconds(3600)) async {
        let name = "report-partitions"
        let defaultRows = registry.gauge(
            name: "sluice_report_default_partition_rows",
            help: "Rows in the default partition of the ingestion reports (0 in normal operation).").labels()
        let aheadDays = registry.gauge(
            name: "sluice_report_daily_partitions_ahead",
            help: "Consecutive days after today with an ingestion-report partition.").labels()
        components.setRunning(name, true)
        defer { components.setRunning(name, false) }
        while !Task.isCancelled {
            do {
                let now = Date()
                let created = try await ensurePartitions(from: now)
                if !created.isEmpty { logger.info("created report partitions", metadata: ["partitions": "\(created)"]) }
                defaultRows.set(Double(try await defaultPartitionRowCount()))
                aheadDays.set(Double(try await partitionsAheadDays(from: now)))
            } catch {
                logger.warning("report partition maintenance failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    private static func lock(_ connection: PostgresConnection) throws {
        _ = try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [.init(lockName)])
    }

    /// The days of the existing daily partitions (the default partition and foreign names are ignored).
    private static func partitionDays(_ connection: PostgresConnection) throws -> Set<ReportPartitionDay> {
        let rows = try connection.query("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass($1)
            """, [.init(IngestionReports.table)])
        return Set(try rows.compactMap { try $0.decode(String.self, "relname").flatMap(ReportPartitionDay.init(partitionName:)) })
    }

    /// Creates `day`'s partition, first moving any of its reports out of the default partition (PostgreSQL
    /// refuses to create a partition whose rows sit in the default one).
    private static func createPartition(_ day: ReportPartitionDay, on connection: PostgresConnection) throws {
        let range: [PostgresValue] = [.init(day.start), .init(day.advanced(by: 1).start)]
        let stranded = try connection.query(
            "SELECT count(*)::int AS n FROM \(defaultPartition) WHERE started_at >= $1 AND started_at < $2", range)
        let moving = try stranded.first?.decode(Int.self, "n") ?? 0 > 0
        if moving {
            try connection.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS report_move (LIKE \(IngestionReports.table)) ON COMMIT DROP")
            try connection.execute("""
                WITH moved AS (DELETE FROM \(defaultPartition) WHERE started_at >= $1 AND started_at < $2 RETURNING *)
                INSERT INTO pg_temp.report_move SELECT * FROM moved
                """, range)
        }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS \(PostgresIdentifier.qualified(PlatformSchema.name, day.name))
            PARTITION OF \(IngestionReports.table)
            FOR VALUES FROM (\(day.boundLiteral)) TO (\(day.advanced(by: 1).boundLiteral))
            """)
        if moving {
            try connection.execute(
                "INSERT INTO \(IngestionReports.table) OVERRIDING SYSTEM VALUE SELECT * FROM pg_temp.report_move")
            try connection.execute("DELETE FROM pg_temp.report_move")
        }
    }
}
