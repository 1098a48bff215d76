import Foundation
import SluiceStore

/// Ingests one claimed file into its tenant's table, exactly once: every accepted row is streamed with
/// COPY into a temporary table, then upserted into the tenant table (last row wins for a key repeated
/// in the file), rejected rows are recorded with their reason, and the file's state and report are
/// written — all in one transaction, so a crash at any moment leaves either nothing or everything.
struct FileIngestor: Sendable {
    /// Rejected rows kept per file (all of them are counted).
    static let maximumStoredRejects = 10_000
    /// Bytes of a rejected record's raw text kept.
    static let maximumRawBytes = 2048

    let definition: TenantDefinition
    let staging: StagingArea
    let limits: StagedFileReader.Limits
    /// Polled while reading: `true` aborts the file (its transaction rolls back; the lease expires and
    /// another worker, or this one after a restart, takes it again).
    let shouldStop: @Sendable () -> Bool

    /// What one file produced.
    struct Outcome: Sendable {
        var rowsTotal = 0
        var rowsIngested = 0
        var rowsRejected = 0
        var rejectedByReason: [String: Int] = [:]
        var state = "succeeded"
        var error: String?
    }

    struct Reject {
        let number: Int
        let line: Int?
        let field: String?
        let reason: String
        let message: String
        let raw: String?
    }

    /// Runs on the store connection's dedicated thread.
    func ingest(_ claim: FileQueue.Claim, on connection: PostgresConnection,
                finish: (PostgresConnection, Outcome) throws -> Void) throws -> Outcome {
        let file = claim.file
        let storage = TenantStorage(definition: definition)
        let fields = definition.schema.fields
        let columns = fields.map { PostgresIdentifier.quote($0.name) }
        let key = definition.primaryKey.map(PostgresIdentifier.quote)
        let source = PostgresIdentifier.quote(TenantStorage.sourceIDColumn)
        let ingestedAt = PostgresIdentifier.quote(TenantStorage.ingestedAtColumn)
        let path = try staging.finalPath(tenant: file.tenant, id: file.id, sanitizedName: file.storedName)
        return try connection.withTransaction { connection in
            _ = try connection.execute("""
                CREATE TEMP TABLE sluice_stage (LIKE \(storage.qualifiedTableName) INCLUDING DEFAULTS,
                                                sluice_ordinal bigserial) ON COMMIT DROP
                """)
            var outcome = Outcome()
            var rejects: [Reject] = []
            let reader = StagedFileReader(path: path, gzip: file.compressed, limits: limits)
            _ = try connection.copyIn("COPY sluice_stage (\((columns + [source]).joined(separator: ", "))) FROM STDIN") { writer in
                var records = RecordStream(definition: definition, format: file.format)
                func take(_ record: RecordStream.Record) throws {
                    outcome.rowsTotal += 1
                    if outcome.rowsTotal % 4096 == 0, shouldStop() { throw CancellationError() }
                    switch record.values {
                    case .success(let values):
                        try writer.writeRow(values + [file.id])
                        outcome.rowsIngested += 1
                    case .failure(let rejection):
                        outcome.rowsRejected += 1
                        outcome.rejectedByReason[rejection.code, default: 0] += 1
                        if rejects.count < Self.maximumStoredRejects {
                            rejects.append(Reject(number: record.number, line: record.line, field: rejection.field,
                                                  reason: rejection.code, message: rejection.message,
                                                  raw: record.raw.map { String(decoding: $0.prefix(Self.maximumRawBytes), as: UTF8.self) }))
                        }
                    }
                }
                try reader.read { bytes in try records.feed(bytes, take) }
                try records.finish(take)
            }
            let assignments = (columns + [source, ingestedAt]).filter { !key.contains($0) }
                .map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
            let conflict = definition.ingestApp.onConflict == .nothing || assignments.isEmpty
                ? "DO NOTHING" : "DO UPDATE SET \(assignments)"
            _ = try connection.execute("""
                INSERT INTO \(storage.qualifiedTableName) (\((columns + [source, ingestedAt]).joined(separator: ", ")))
                SELECT DISTINCT ON (\(key.joined(separator: ", "))) \((columns + [source]).joined(separator: ", ")), now()
                FROM sluice_stage ORDER BY \(key.joined(separator: ", ")), sluice_ordinal DESC
                ON CONFLICT (\(key.joined(separator: ", "))) \(conflict)
                """)
            _ = try connection.execute("DELETE FROM sluice.rejects WHERE file_id = $1", [.init(file.id)])
            if !rejects.isEmpty {
                _ = try connection.copyIn("COPY sluice.rejects (file_id, tenant_id, record_number, line, field, reason, message, raw) FROM STDIN") { writer in
                    for reject in rejects {
                        try writer.writeRow([file.id, file.tenant, String(reject.number), reject.line.map(String.init),
                                             reject.field, reject.reason, reject.message, reject.raw])
                    }
                }
            }
            if outcome.rowsTotal == 0 {
                outcome.state = "failed"
                outcome.error = "the file holds no records"
            } else if outcome.rowsIngested == 0 {
                outcome.state = "failed"
                outcome.error = "every row was rejected"
            } else if outcome.rowsRejected > 0 {
                outcome.state = "partial"
            }
            try finish(connection, outcome)
            return outcome
        }
    }
}
