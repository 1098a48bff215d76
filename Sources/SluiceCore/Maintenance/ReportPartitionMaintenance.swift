import Foundation
import Logging
import SluiceMetrics
import SluiceStore

/// Creates and drops the daily partitions of `sluice.ingestion_reports` and of the tables partitioned by day
/// alongside it (the reports' per-minute sums, the readiness probes), and applies retention (to the
/// reports' per-hour sums too).
///
/// Partition DDL runs under a transaction-scoped advisory lock, so several instances may run it at once.
public struct ReportPartitionMaintenance: Sendable {
    /// A table partitioned by UTC day of one of its columns.
    struct PartitionedTable: Sendable {
        let name: String
        let key: String

        var qualified: String { PostgresIdentifier.qualified(PlatformSchema.name, name) }
        var defaultPartition: String { PostgresIdentifier.qualified(PlatformSchema.name, name + "_default") }
    }

    /// The reports first: the names this type returns are theirs; the others get the same days.
    static let tables = [
        PartitionedTable(name: "ingestion_reports", key: "started_at"),
        PartitionedTable(name: "report_minutes", key: "minute"),
        PartitionedTable(name: "readiness_probes", key: "at"),
    ]
    private static let defaultPartition = tables[0].defaultPartition
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
    /// (UTC days); returns the names of the report partitions created. Rows already in a default partition
    /// for a new day are moved into it.
    @discardableResult
    public func ensurePartitions(from: Date, daysAhead: Int = 7) async throws -> [String] {
        guard (0...366).contains(daysAhead) else { throw ServiceError(.invalid, "invalid_argument", "daysAhead must be in 0...366") }
        let today = ReportPartitionDay(containing: from)
        let days = (-1...daysAhead).map { today.advanced(by: $0) }
        return try await pool.withTransaction { connection in
            try Self.lock(connection)
            var created: [String] = []
            for table in Self.tables {
                let existing = try Self.partitionDays(of: table, connection)
                for day in days where !existing.contains(day) {
                    try Self.createPartition(day, of: table, on: connection)
                    if table.name == Self.tables[0].name { created.append(day.name) }
                }
            }
            return created
        }
    }

    /// Drops the daily partitions that lie entirely before `cutoff`; returns the names of the report
    /// partitions dropped, oldest first.
    @discardableResult
    public func dropPartitions(olderThan cutoff: Date) async throws -> [String] {
        try await pool.withTransaction { connection in
            try Self.lock(connection)
            var dropped: [String] = []
            for table in Self.tables {
                let old = try Self.partitionDays(of: table, connection).filter { $0.advanced(by: 1).start <= cutoff }.sorted()
                for day in old {
                    try connection.execute("DROP TABLE IF EXISTS \(PostgresIdentifier.qualified(PlatformSchema.name, day.name(of: table.name)))")
                }
                if table.name == Self.tables[0].name { dropped = old.map(\.name) }
            }
            // The hourly sums are not partitioned: those of the days dropped go with them.
            if let newest = dropped.compactMap({ ReportPartitionDay(partitionName: $0) }).max() {
                try connection.execute("DELETE FROM sluice.report_hours WHERE hour < $1", [.init(newest.advanced(by: 1).start)])
            }
            return dropped
        }
    }

    /// Per-tenant retention: deletes the tenant's reports started before `cutoff`, and their per-minute sums;
    /// returns how many reports.
    @discardableResult
    public func deleteReports(tenant: String, olderThan cutoff: Date) async throws -> Int {
        // Reports before their sums: the order every writer locks the two tables in.
        try await pool.withTransaction { connection in
            let deleted = try connection.execute(
                "DELETE FROM \(IngestionReports.table) WHERE tenant_id = $1 AND started_at < $2", [.init(tenant), .init(cutoff)])
            // Only the sums of whole minutes and hours before the cutoff: one holding it keeps its reports' counts.
            try connection.execute("DELETE FROM sluice.report_minutes WHERE tenant_id = $1 AND minute < date_trunc('minute', $2::timestamptz)",
                                   [.init(tenant), .init(cutoff)])
            try connection.execute("DELETE FROM sluice.report_hours WHERE tenant_id = $1 AND hour < date_trunc('hour', $2::timestamptz)",
                                   [.init(tenant), .init(cutoff)])
            return deleted
        }
    }

    /// Rows in the default partition: reports whose day had no partition when they were written.
    public func defaultPartitionRowCount() async throws -> Int {
        try await pool.query("SELECT count(*)::int AS n FROM \(Self.defaultPartition)").first?.decode(Int.self, "n") ?? 0
    }

    /// How many consecutive days after the UTC day of `date` have a partition.
    public func partitionsAheadDays(from date: Date) async throws -> Int {
        let days = try await pool.withConnection { try Self.partitionDays(of: Self.tables[0], $0) }
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

    /// The days of `table`'s existing daily partitions (the default partition and foreign names are ignored).
    private static func partitionDays(of table: PartitionedTable, _ connection: PostgresConnection) throws -> Set<ReportPartitionDay> {
        let rows = try connection.query("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass($1)
            """, [.init(table.qualified)])
        return Set(try rows.compactMap {
            try $0.decode(String.self, "relname").flatMap { ReportPartitionDay(partitionName: $0, of: table.name) }
        })
    }

    /// Creates `day`'s partition of `table`, first moving any of its rows out of the default partition
    /// (PostgreSQL refuses to create a partition whose rows sit in the default one). Moved reports are not
    /// counted again in their per-minute sums.
    private static func createPartition(_ day: ReportPartitionDay, of table: PartitionedTable, on connection: PostgresConnection) throws {
        let range: [PostgresValue] = [.init(day.start), .init(day.advanced(by: 1).start)]
        let stranded = try connection.query(
            "SELECT count(*)::int AS n FROM \(table.defaultPartition) WHERE \(table.key) >= $1 AND \(table.key) < $2", range)
        let moving = try stranded.first?.decode(Int.self, "n") ?? 0 > 0
        let holding = "pg_temp.\(table.name)_move"
        if moving {
            try connection.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS \(table.name)_move (LIKE \(table.qualified)) ON COMMIT DROP")
            try connection.execute("""
                WITH moved AS (DELETE FROM \(table.defaultPartition) WHERE \(table.key) >= $1 AND \(table.key) < $2 RETURNING *)
                INSERT INTO \(holding) SELECT * FROM moved
                """, range)
        }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS \(PostgresIdentifier.qualified(PlatformSchema.name, day.name(of: table.name)))
            PARTITION OF \(table.qualified)
            FOR VALUES FROM (\(day.boundLiteral)) TO (\(day.advanced(by: 1).boundLiteral))
            """)
        if moving {
            try connection.execute("SET LOCAL \(MonitorSchema.movingReportsSetting) = 'on'")
            try connection.execute("INSERT INTO \(table.qualified) OVERRIDING SYSTEM VALUE SELECT * FROM \(holding)")
            try connection.execute("SET LOCAL \(MonitorSchema.movingReportsSetting) = 'off'")
            try connection.execute("DELETE FROM \(holding)")
        }
    }
}
