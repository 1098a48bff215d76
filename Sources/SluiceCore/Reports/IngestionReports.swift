import Foundation
import SluiceStore

/// The ingestion-report store: `sluice.ingestion_reports`, partitioned by day of `started_at`
/// (see ``ReportPartitionMaintenance``).
public struct IngestionReports: Sendable {
    /// The partitioned parent table.
    static let table = PostgresIdentifier.qualified(PlatformSchema.name, "ingestion_reports")

    /// Platform-schema migration 3: the partitioned table, its indexes and the default partition.
    public static let migration = PostgresMigration(version: 3, name: "ingestion reports", sql: """
        CREATE TABLE sluice.ingestion_reports (
            id                  bigint GENERATED ALWAYS AS IDENTITY,
            tenant_id           text NOT NULL,
            kind                text NOT NULL CHECK (kind IN ('batch', 'stream')),
            source_id           text NOT NULL,
            source_name         text,
            bytes               bigint NOT NULL CHECK (bytes >= 0),
            rows_total          bigint,
            rows_ingested       bigint,
            rows_rejected       bigint,
            rejected_by_reason  jsonb NOT NULL DEFAULT '{}',
            received_at         timestamptz,
            queue_wait_seconds  double precision,
            started_at          timestamptz NOT NULL,
            finished_at         timestamptz NOT NULL,
            duration_seconds    double precision,
            latency_seconds     double precision,
            bytes_per_second    double precision,
            rows_per_second     double precision,
            app_kind            text,
            outcome             text NOT NULL CHECK (outcome IN ('succeeded', 'partial', 'failed')),
            error               text,
            diagnostics         text,
            PRIMARY KEY (id, started_at)
        ) PARTITION BY RANGE (started_at);
        CREATE INDEX ingestion_reports_tenant_started ON sluice.ingestion_reports (tenant_id, started_at);
        CREATE INDEX ingestion_reports_started_brin ON sluice.ingestion_reports USING brin (started_at);
        CREATE TABLE sluice.ingestion_reports_default PARTITION OF sluice.ingestion_reports DEFAULT;
        COMMENT ON TABLE sluice.ingestion_reports IS 'One row per ingested file or stream window; daily partitions';
        COMMENT ON TABLE sluice.ingestion_reports_default IS 'Catches reports without a daily partition; empty normally';
        COMMENT ON COLUMN sluice.ingestion_reports.source_id IS 'File id (batch) or stream-window id (stream)';
        COMMENT ON COLUMN sluice.ingestion_reports.latency_seconds IS 'From received_at to the commit (finished_at)';
        """)

    private let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Writes `report` on `connection`, typically inside the transaction of the ingestion's last chunk.
    /// Returns the new report's id; throws `invalid_report` for an inconsistent report.
    @discardableResult
    public static func insert(_ report: IngestionReport, on connection: PostgresConnection) throws -> Int64 {
        try report.validate()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let reasons = String(decoding: try encoder.encode(report.rejectedByReason), as: UTF8.self)
        let rows = try connection.query("""
            INSERT INTO \(table) (tenant_id, kind, source_id, source_name, bytes, rows_total, rows_ingested,
                rows_rejected, rejected_by_reason, received_at, queue_wait_seconds, started_at, finished_at,
                duration_seconds, latency_seconds, bytes_per_second, rows_per_second, app_kind, outcome, error,
                diagnostics, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                $20, $21, $22::jsonb)
            RETURNING id
            """, [
                .init(report.tenantID), .init(report.kind.rawValue), .init(report.sourceID), .init(report.sourceName),
                .init(report.bytes), .init(report.rowsTotal), .init(report.rowsIngested), .init(report.rowsRejected),
                .init(reasons), .init(report.receivedAt), .init(report.queueWaitSeconds), .init(report.startedAt),
                .init(report.finishedAt), .init(report.durationSeconds), .init(report.latencySeconds),
                .init(report.bytesPerSecond), .init(report.rowsPerSecond), .init(report.appKind),
                .init(report.outcome.rawValue), .init(report.error), .init(report.diagnostics),
                .init(try report.stream.map { String(decoding: try encoder.encode($0), as: UTF8.self) }),
            ])
        guard let id = try rows.first?.decode(Int64.self, "id") else {
            throw PostgresError(code: .decodeFailed, message: "INSERT … RETURNING id returned no id")
        }
        return id
    }

    /// The tenant's reports started in `[from, to)`, newest first; `limit` must be in 1...10 000.
    public func list(tenant: String, from: Date, to: Date, limit: Int = 100) async throws -> [IngestionReport] {
        guard (1...10_000).contains(limit) else { throw ServiceError(.invalid, "invalid_argument", "limit must be in 1...10000") }
        let rows = try await pool.query("""
            SELECT \(IngestionReport.columns) FROM \(Self.table)
            WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3
            ORDER BY started_at DESC, id DESC LIMIT $4
            """, [.init(tenant), .init(from), .init(to), .init(limit)])
        return try rows.map(IngestionReport.init(row:))
    }

    /// Per-tenant aggregates of the reports started in `[from, to)`, ordered by tenant.
    public func summary(from: Date, to: Date) async throws -> [TenantReportSummary] {
        let rows = try await pool.query("""
            SELECT tenant_id, count(*)::int AS reports,
                   count(*) FILTER (WHERE kind = 'batch' AND outcome = 'succeeded')::int AS files_succeeded,
                   count(*) FILTER (WHERE kind = 'batch' AND outcome = 'partial')::int AS files_partial,
                   count(*) FILTER (WHERE kind = 'batch' AND outcome = 'failed')::int AS files_failed,
                   count(*) FILTER (WHERE kind = 'stream')::int AS stream_windows,
                   coalesce(sum(rows_total), 0)::bigint AS rows_total,
                   coalesce(sum(rows_ingested), 0)::bigint AS rows_ingested,
                   coalesce(sum(rows_rejected), 0)::bigint AS rows_rejected,
                   coalesce(sum(bytes), 0)::bigint AS bytes,
                   avg(latency_seconds) AS mean_latency, max(latency_seconds) AS max_latency
            FROM \(Self.table) WHERE started_at >= $1 AND started_at < $2
            GROUP BY tenant_id ORDER BY tenant_id
            """, [.init(from), .init(to)])
        return try rows.map { row in
            TenantReportSummary(
                tenantID: try row.decode(String.self, "tenant_id") ?? "", reports: try row.decode(Int.self, "reports") ?? 0,
                filesSucceeded: try row.decode(Int.self, "files_succeeded") ?? 0,
                filesPartial: try row.decode(Int.self, "files_partial") ?? 0,
                filesFailed: try row.decode(Int.self, "files_failed") ?? 0,
                streamWindows: try row.decode(Int.self, "stream_windows") ?? 0,
                rowsTotal: try row.decode(Int64.self, "rows_total") ?? 0,
                rowsIngested: try row.decode(Int64.self, "rows_ingested") ?? 0,
                rowsRejected: try row.decode(Int64.self, "rows_rejected") ?? 0,
                bytes: try row.decode(Int64.self, "bytes") ?? 0,
                meanLatencySeconds: try row.decode(Double.self, "mean_latency"),
                maxLatencySeconds: try row.decode(Double.self, "max_latency"))
        }
    }

    /// Deletes every report of `tenant` and their sums (when the tenant is deleted); returns how many reports.
    @discardableResult
    public func deleteTenant(_ tenant: String) async throws -> Int {
        try await pool.withTransaction { try Self.deleteTenant(tenant, on: $0) }
    }

    /// Deletes every report of `tenant` and their per-minute and per-hour sums on `connection`; returns how
    /// many reports. Reports before their sums: the order every writer locks the tables in.
    @discardableResult
    static func deleteTenant(_ tenant: String, on connection: PostgresConnection) throws -> Int {
        let deleted = try connection.execute("DELETE FROM \(table) WHERE tenant_id = $1", [.init(tenant)])
        try connection.execute("DELETE FROM sluice.report_minutes WHERE tenant_id = $1", [.init(tenant)])
        try connection.execute("DELETE FROM sluice.report_hours WHERE tenant_id = $1", [.init(tenant)])
        return deleted
    }
}
