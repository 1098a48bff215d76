import Foundation
import SluiceStore

/// The durable work queue of batch ingestion: the file ledger itself. Files move
/// `received → queued → ingesting → succeeded | failed | partial`; a worker owns a file through a
/// lease in the store, so several Sluice processes share the work and a file whose worker died is
/// taken again once its lease expires.
public struct FileQueue: Sendable {
    /// Ledger columns added for the queue, and the rejects table.
    public static let migration = PostgresMigration(version: 4, name: "batch ingest queue and rejects", sql: """
        ALTER TABLE sluice.files
            ADD COLUMN queued_at           timestamptz,
            ADD COLUMN ingest_started_at   timestamptz,
            ADD COLUMN ingest_finished_at  timestamptz,
            ADD COLUMN lease_owner         text,
            ADD COLUMN lease_expires_at    timestamptz,
            ADD COLUMN attempts            integer NOT NULL DEFAULT 0,
            ADD COLUMN rows_total          bigint,
            ADD COLUMN rows_ingested       bigint,
            ADD COLUMN rows_rejected       bigint;
        CREATE INDEX files_claimable ON sluice.files (received_at) WHERE state IN ('queued', 'ingesting');

        CREATE TABLE sluice.rejects (
            file_id        text NOT NULL REFERENCES sluice.files (id) ON DELETE CASCADE,
            tenant_id      text NOT NULL,
            record_number  bigint NOT NULL,
            line           bigint,
            field          text,
            reason         text NOT NULL,
            message        text NOT NULL,
            raw            text,
            PRIMARY KEY (file_id, record_number)
        );
        COMMENT ON TABLE sluice.rejects IS 'Rows of ingested files that failed validation, with the reason';
        """)

    /// A file a worker holds the lease on.
    public struct Claim: Sendable {
        public let file: FileRecord
        public let receivedAt: Date
        public let queuedAt: Date?
        public let startedAt: Date
    }

    private let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Moves `received` files of tenants that ingest on arrival (no schedule) to `queued`.
    @discardableResult
    public func queueArrivals() async throws -> Int {
        try await pool.execute("""
            UPDATE sluice.files f SET state = 'queued', queued_at = now(), state_changed_at = now()
            FROM sluice.tenants t
            WHERE f.tenant_id = t.id AND f.state = 'received'
              AND t.definition #>> '{service_agreement,schedule}' IS NULL
            """)
    }

    /// Moves the `received` files of one (scheduled) tenant to `queued`.
    @discardableResult
    public func queueTenant(_ tenant: String) async throws -> Int {
        try await pool.execute("""
            UPDATE sluice.files SET state = 'queued', queued_at = now(), state_changed_at = now()
            WHERE tenant_id = $1 AND state = 'received'
            """, [.init(tenant)])
    }

    /// Leases the next file: the oldest queued file (or one whose lease expired) of the tenant with the
    /// fewest files in progress, skipping tenants at their concurrency limit and rows other workers hold.
    /// Claims of all processes take turns (a transaction-level advisory lock, then a fresh snapshot), so
    /// two claimers never both see a tenant below its limit and each take one of its files.
    public func claim(owner: String, lease: Duration) async throws -> Claim? {
        try await self.lease(owner: owner, lease: lease, exclusive: true, candidate: """
            WITH busy AS (
                SELECT tenant_id, count(*) AS n FROM sluice.files
                WHERE state = 'ingesting' AND lease_expires_at > statement_timestamp() GROUP BY tenant_id
            ), candidate AS (
                SELECT f.id FROM sluice.files f
                JOIN sluice.tenants t ON t.id = f.tenant_id
                LEFT JOIN busy b ON b.tenant_id = f.tenant_id
                WHERE (f.state = 'queued' OR (f.state = 'ingesting' AND f.lease_expires_at <= statement_timestamp()))
                  AND t.deleting_since IS NULL
                  AND coalesce(b.n, 0) < greatest(1, coalesce((t.definition #>> '{service_agreement,resources,concurrency}')::int, 1))
                ORDER BY coalesce(b.n, 0), f.received_at, f.id
                FOR UPDATE OF f SKIP LOCKED
                LIMIT 1
            )
            """, parameters: [])
    }

    /// Leases one particular file now, whatever its tenant's schedule: `nil` if it is finished or another
    /// worker holds it.
    public func claim(fileID: String, owner: String, lease: Duration) async throws -> Claim? {
        try await self.lease(owner: owner, lease: lease, exclusive: false, candidate: """
            WITH candidate AS (
                SELECT f.id FROM sluice.files f
                WHERE f.id = $3 AND (f.state IN ('received', 'queued') OR (f.state = 'ingesting' AND f.lease_expires_at <= now()))
                FOR UPDATE OF f SKIP LOCKED
            )
            """, parameters: [.init(fileID)])
    }

    /// Key of the advisory lock claims take turns with.
    static let claimLock = "sluice.claim"

    /// Leases the file `candidate` (a `WITH` clause defining `candidate(id)`; `$1` and `$2` are taken) selects;
    /// `exclusive` takes the claim lock first. The file's `error` is kept: it is the last attempt's until the
    /// file finishes.
    private func lease(owner: String, lease: Duration, exclusive: Bool, candidate: String,
                       parameters: [PostgresValue]) async throws -> Claim? {
        let sql = """
            \(candidate)
            UPDATE sluice.files f
            SET state = 'ingesting', lease_owner = $1, lease_expires_at = statement_timestamp() + make_interval(secs => $2),
                attempts = f.attempts + 1, queued_at = coalesce(f.queued_at, statement_timestamp()), ingest_started_at = statement_timestamp(),
                state_changed_at = statement_timestamp()
            FROM candidate WHERE f.id = candidate.id
            RETURNING \(FileRecord.columns.split(separator: ",").map { "f." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")),
                      f.queued_at, f.ingest_started_at
            """
        let values: [PostgresValue] = [.init(owner), .init(Double(lease.components.seconds))] + parameters
        let rows = try await pool.withConnection { connection in
            guard exclusive else { return try connection.query(sql, values) }
            return try connection.withTransaction { connection in
                _ = try connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.init(Self.claimLock)])
                // Read committed: this statement's snapshot is taken after the lock, so it sees every earlier claim; its
                // times are the statement's (statement_timestamp()), not the transaction's, which began before the wait.
                return try connection.query(sql, values)
            }
        }
        guard let row = rows.first else { return nil }
        let file = try FileRecord(row: row)
        return Claim(file: file, receivedAt: file.receivedAt, queuedAt: try row.decode(Date.self, "queued_at"),
                     startedAt: try row.decode(Date.self, "ingest_started_at") ?? Date())
    }

    /// Extends the lease of a file still being ingested by `owner`.
    public func renew(fileID: String, owner: String, lease: Duration) async throws {
        _ = try await pool.execute("""
            UPDATE sluice.files SET lease_expires_at = now() + make_interval(secs => $3)
            WHERE id = $1 AND lease_owner = $2 AND state = 'ingesting'
            """, [.init(fileID), .init(owner), .init(Double(lease.components.seconds))])
    }

    /// Gives a file back to the queue (a worker stopping before it finished, or an error worth retrying, kept
    /// as the file's last `error`); `undoingTheClaim` also takes back the attempt the claim counted (a worker
    /// that claimed a file it then had no place for).
    @discardableResult
    public func release(fileID: String, owner: String, error: String? = nil, undoingTheClaim: Bool = false) async throws -> Int {
        try await pool.execute("""
            UPDATE sluice.files SET state = 'queued', state_changed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                attempts = attempts - CASE WHEN $3 THEN 1 ELSE 0 END, error = coalesce($4, error)
            WHERE id = $1 AND lease_owner = $2 AND state = 'ingesting'
            """, [.init(fileID), .init(owner), .init(undoingTheClaim), .init(error)])
    }

    /// Puts a failed or finished file back in the queue (`POST …/files/{id}/replay`).
    public func replay(tenant: String, fileID: String) async throws -> FileRecord {
        let rows = try await pool.query("""
            UPDATE sluice.files SET state = 'queued', queued_at = now(), state_changed_at = now(), error = NULL,
                lease_owner = NULL, lease_expires_at = NULL, attempts = 0
            WHERE tenant_id = $1 AND id = $2 AND state IN ('failed', 'partial', 'succeeded')
            RETURNING \(FileRecord.columns)
            """, [.init(tenant), .init(fileID)])
        guard let row = rows.first else {
            _ = try await FileRecord.fetch(tenant: tenant, id: fileID, pool: pool)  // 404 file_not_found if it does not exist
            throw ServiceError(.conflict, "not_replayable", "file \"\(fileID)\" is not finished")
        }
        return try FileRecord(row: row)
    }
}
