import Foundation
import SluiceStore

/// Ingests one claimed file into its tenant's table, exactly once, in one transaction with the file's
/// state and report: a crash at any moment leaves either nothing or everything.
///
/// Rows first stream with COPY straight into the tenant table (the fast path for new rows). If a key
/// already exists, that attempt rolls back to a savepoint and the file is loaded again through a
/// temporary table and `INSERT … ON CONFLICT`, where the last record of a key repeated in the file
/// wins (or, with a `dedupe` step, the others are rejected as `duplicate_key`).
struct FileIngestor: Sendable {
    /// Rejected rows kept per file (all of them are counted).
    static let maximumStoredRejects = 10_000
    /// Bytes of a rejected record's raw text kept.
    static let maximumRawBytes = 2048
    /// Reason code of records removed by a `dedupe` step.
    static let duplicateKeyCode = "duplicate_key"

    let definition: TenantDefinition
    let staging: StagingArea
    /// Where the tenant's external app runs.
    let sandbox: AppSandbox
    let limits: StagedFileReader.Limits
    /// Polled while reading: `true` aborts the file (its transaction rolls back; the lease expires and
    /// another worker, or this one after a restart, takes it again).
    let shouldStop: @Sendable () -> Bool
    /// Whether this ingest follows an upload (``ArrivingFile``): its rows are written before the file is in
    /// the ledger, where claims cannot see them, so it runs only while no other ingest of the tenant does.
    var followsUpload = false
    /// When a load still running fails the file with `ingest_timeout` (the tenant's `timeout_seconds`).
    var deadline: ContinuousClock.Instant = .now + .seconds(600)

    /// What one file produced.
    struct Outcome: Sendable {
        var rowsTotal = 0
        var rowsIngested = 0
        var rowsRejected = 0
        var rejectedByReason: [String: Int] = [:]
        var state = "succeeded"
        var error: String?
        /// What an external app wrote on stderr (capped).
        var diagnostics: String?
        /// How an external app's run ended: `ok`, `failed`, `timeout` or `killed`.
        var appRun: String?
    }

    struct Reject {
        let number: Int
        let line: Int?
        let field: String?
        let reason: String
        let message: String
        let raw: String?
    }

    /// Feeds a file's records, as bytes in the file's format, to the closure it is given.
    typealias Source = (_ consume: ([UInt8]) throws -> Void) throws -> Void

    /// Loads a claimed file through the declarative app. Runs on the store connection's dedicated thread.
    func ingest(_ claim: FileQueue.Claim, on connection: PostgresConnection,
                finish: (PostgresConnection, Outcome) throws -> Void) throws -> Outcome {
        let file = claim.file
        let path = try staging.finalPath(tenant: file.tenant, id: file.id, sanitizedName: file.storedName)
        let reader = StagedFileReader(path: path, gzip: file.compressed, limits: limits)
        return try ingest(file, format: file.format, pipeline: RecordPipeline(app: definition.ingestApp, schema: definition.schema),
                          source: reader.read, repeatable: true, on: connection, finish: finish)
    }

    /// Loads the records `source` yields. A `repeatable` source may be read twice (see the type's
    /// documentation); others go through the temporary table at once.
    /// `annotate` adds what only the source knows (an external app's diagnostics) before `finish`.
    func ingest(_ file: FileRecord, format: String, pipeline: RecordPipeline, source: Source, repeatable: Bool,
                annotate: (inout Outcome) -> Void = { _ in },
                on connection: PostgresConnection, finish: (PostgresConnection, Outcome) throws -> Void) throws -> Outcome {
        try connection.withTransaction { connection in
            try lockTenant(on: connection)
            var pass: Pass?
            if repeatable {
                _ = try connection.execute("SAVEPOINT sluice_direct")
                do {
                    pass = try load(file, format: format, pipeline: pipeline, source: source, staged: false, on: connection)
                    _ = try connection.execute("RELEASE SAVEPOINT sluice_direct")
                } catch let error as PostgresError where error.isUniqueViolation || error.code == .copyInterrupted {
                    _ = try connection.execute("ROLLBACK TO SAVEPOINT sluice_direct")
                }
            }
            var loaded = try pass ?? loadThroughStage(file, format: format, pipeline: pipeline, source: source, on: connection)
            try storeRejects(loaded.rejects, of: file, on: connection)
            if pass == nil, let keepLast = pipeline.dedupeKeepsLast {
                try removeDuplicates(of: file, keepLast: keepLast, stored: loaded.rejects.count, outcome: &loaded.outcome, on: connection)
            }
            if pass == nil { try upsertStage(on: connection) }
            var outcome = loaded.outcome
            if outcome.rowsTotal == 0 {
                outcome.state = "failed"
                outcome.error = "the file holds no records"
            } else if outcome.rowsIngested == 0 {
                outcome.state = "failed"
                outcome.error = "every row was rejected"
            } else if outcome.rowsRejected > 0 {
                outcome.state = "partial"
            }
            annotate(&outcome)
            try finish(connection, outcome)
            return outcome
        }
    }

    /// Ingests of one tenant take its advisory lock until they commit: shared for claimed files (as many at
    /// once as the tenant's concurrency allows), exclusive for one that follows an upload, which stops
    /// (``ArrivingFile/Detached``) rather than wait. So claimed files never write keys beside a following
    /// ingest (no deadlock between the two), and they wait for it to commit or roll back.
    private func lockTenant(on connection: PostgresConnection) throws {
        let key: PostgresValue = .init(TenantService.ingestLock(definition.id))
        guard followsUpload else {
            _ = try connection.query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", [key])
            return
        }
        let taken = try connection.query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS taken", [key])
        guard try taken.first?.decode(Bool.self, "taken") == true else { throw ArrivingFile.Detached() }
    }

    /// The counts and the rejects (up to ``maximumStoredRejects``) of one pass over the records.
    private struct Pass {
        var outcome = Outcome()
        var rejects: [Reject] = []
    }

    private var storage: TenantStorage { TenantStorage(definition: definition) }
    private var columns: [String] { definition.schema.fields.map { PostgresIdentifier.quote($0.name) } }
    private var sourceColumn: String { PostgresIdentifier.quote(TenantStorage.sourceIDColumn) }

    private func loadThroughStage(_ file: FileRecord, format: String, pipeline: RecordPipeline, source: Source,
                                  on connection: PostgresConnection) throws -> Pass {
        _ = try connection.execute("""
            CREATE TEMP TABLE sluice_stage (LIKE \(storage.qualifiedTableName) INCLUDING DEFAULTS,
                                            sluice_record bigint, sluice_line bigint) ON COMMIT DROP
            """)
        return try load(file, format: format, pipeline: pipeline, source: source, staged: true, on: connection)
    }

    /// Streams the accepted records with COPY into the tenant table, or into `sluice_stage` with their
    /// record and line numbers when `staged`.
    private func load(_ file: FileRecord, format: String, pipeline: RecordPipeline, source: Source, staged: Bool,
                      on connection: PostgresConnection) throws -> Pass {
        var pass = Pass()
        let target = staged
            ? "sluice_stage (\((columns + [sourceColumn, "sluice_record", "sluice_line"]).joined(separator: ", ")))"
            : "\(storage.qualifiedTableName) (\((columns + [sourceColumn]).joined(separator: ", ")))"
        _ = try connection.copyIn("COPY \(target) FROM STDIN") { writer in
            var records = RecordStream(definition: definition, format: format, pipeline: pipeline)
            var rows = CopyTextRows()
            // Copied out so that the per-row closure captures neither `self` nor the whole file record.
            let fileID = file.id, shouldStop = shouldStop, deadline = deadline
            let timeout = definition.serviceAgreement.resources.timeoutSeconds
            func take(_ record: RecordStream.Record, _ row: ValidatedRow) throws {
                pass.outcome.rowsTotal += 1
                if pass.outcome.rowsTotal % 4096 == 0 {
                    if shouldStop() { throw CancellationError() }
                    if ContinuousClock.now > deadline {
                        throw ServiceError(.tooLarge, "ingest_timeout", "the ingest ran longer than \(timeout) s (timeout_seconds) and was stopped")
                    }
                }
                guard let rejection = record.rejection else {
                    row.encode(into: &rows)
                    rows.append(fileID)
                    if staged {
                        rows.append(record.number)
                        if let line = record.line { rows.append(line) } else { rows.appendNull() }
                    }
                    rows.endRow()
                    pass.outcome.rowsIngested += 1
                    if rows.count >= PostgresCopyWriter.chunkSize {
                        try writer.write(rows)
                        rows.removeAll()
                    }
                    return
                }
                pass.outcome.rowsRejected += 1
                pass.outcome.rejectedByReason[rejection.code, default: 0] += 1
                if pass.rejects.count < Self.maximumStoredRejects {
                    pass.rejects.append(Reject(number: record.number, line: record.line, field: rejection.field.map(Self.storable),
                                               reason: rejection.code, message: Self.storable(rejection.message),
                                               raw: record.raw.map { Self.storable(String(decoding: $0.prefix(Self.maximumRawBytes), as: UTF8.self)) }))
                }
            }
            try source { bytes in try records.feed(bytes, take) }
            try records.finish(take)
            try writer.write(rows)
        }
        return pass
    }

    /// `text` as PostgreSQL can store it: a rejected record's raw text may hold NUL, which it cannot (the whole
    /// file failed on it); each becomes U+FFFD, as invalid UTF-8 already does.
    static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? String(text.unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : Character($0) }) : text
    }

    private func storeRejects(_ rejects: [Reject], of file: FileRecord, on connection: PostgresConnection) throws {
        _ = try connection.execute("DELETE FROM sluice.rejects WHERE file_id = $1", [.init(file.id)])
        guard !rejects.isEmpty else { return }
        _ = try connection.copyIn("COPY sluice.rejects (file_id, tenant_id, record_number, line, field, reason, message, raw) FROM STDIN") { writer in
            for reject in rejects {
                try writer.writeRow([file.id, file.tenant, String(reject.number), reject.line.map(String.init),
                                     reject.field, reject.reason, reject.message, reject.raw])
            }
        }
    }

    /// The `dedupe` step: removes all but the first or last staged record of each key and rejects them.
    private func removeDuplicates(of file: FileRecord, keepLast: Bool, stored: Int, outcome: inout Outcome,
                                  on connection: PostgresConnection) throws {
        let key = definition.primaryKey.map(PostgresIdentifier.quote).joined(separator: ", ")
        let kept = keepLast ? "last" : "first"
        let removed = try connection.query("""
            WITH ranked AS (
                SELECT sluice_record, row_number() OVER (PARTITION BY \(key) ORDER BY sluice_record \(keepLast ? "DESC" : "ASC")) AS rank
                FROM sluice_stage),
            removed AS (
                DELETE FROM sluice_stage USING ranked
                WHERE sluice_stage.sluice_record = ranked.sluice_record AND ranked.rank > 1
                RETURNING sluice_stage.sluice_record, sluice_stage.sluice_line),
            stored AS (
                INSERT INTO sluice.rejects (file_id, tenant_id, record_number, line, field, reason, message)
                SELECT $1, $2, sluice_record, sluice_line, NULL, $3, $4 FROM removed ORDER BY sluice_record LIMIT $5)
            SELECT count(*)::bigint AS removed FROM removed
            """, [.init(file.id), .init(file.tenant), .init(Self.duplicateKeyCode),
                  .init("the primary key repeats another record of the file; the \(kept) one was kept"),
                  .init(max(0, Self.maximumStoredRejects - stored))])
        let count = try removed.first?.decode(Int.self, "removed") ?? 0
        guard count > 0 else { return }
        outcome.rowsIngested -= count
        outcome.rowsRejected += count
        outcome.rejectedByReason[Self.duplicateKeyCode, default: 0] += count
    }

    /// Moves the staged rows into the tenant table. A key repeated in the file would make `DO UPDATE`
    /// fail (cardinality violation): then only the last record of each key is inserted.
    private func upsertStage(on connection: PostgresConnection) throws {
        let key = definition.primaryKey.map(PostgresIdentifier.quote)
        let ingestedAt = PostgresIdentifier.quote(TenantStorage.ingestedAtColumn)
        let assignments = (columns + [sourceColumn, ingestedAt]).filter { !key.contains($0) }
            .map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        let updates = definition.ingestApp.onConflict == .update && !assignments.isEmpty
        let conflict = updates ? "DO UPDATE SET \(assignments)" : "DO NOTHING"
        let insert = "INSERT INTO \(storage.qualifiedTableName) (\((columns + [sourceColumn, ingestedAt]).joined(separator: ", ")))"
        let values = (columns + [sourceColumn]).joined(separator: ", ") + ", now()"
        let onConflict = "ON CONFLICT (\(key.joined(separator: ", "))) \(conflict)"
        guard updates else {
            _ = try connection.execute("\(insert) SELECT \(values) FROM sluice_stage ORDER BY sluice_record \(onConflict)")
            return
        }
        _ = try connection.execute("SAVEPOINT sluice_upsert")
        do {
            _ = try connection.execute("\(insert) SELECT \(values) FROM sluice_stage \(onConflict)")
            _ = try connection.execute("RELEASE SAVEPOINT sluice_upsert")
        } catch let error as PostgresError where error.isCardinalityViolation {
            _ = try connection.execute("ROLLBACK TO SAVEPOINT sluice_upsert")
            _ = try connection.execute("""
                \(insert) SELECT DISTINCT ON (\(key.joined(separator: ", "))) \(values)
                FROM sluice_stage ORDER BY \(key.joined(separator: ", ")), sluice_record DESC \(onConflict)
                """)
        }
    }
}
