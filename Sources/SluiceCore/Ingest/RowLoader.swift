import Foundation
import SluiceStore

/// Loads a tenant's records into its table inside the caller's transaction: the one loader of both paths,
/// fed by a staged file (batch) or by the requests of a stream micro-batch.
///
/// Rows first stream with COPY straight into the tenant table (the fast path for new rows). If a key
/// already exists, that attempt rolls back to a savepoint and the records are loaded again through a
/// temporary table and `INSERT … ON CONFLICT`, where the last record of a repeated key wins (or, with a
/// `dedupe` step, the others are rejected as `duplicate_key`). Every row carries the source's id as
/// `_sluice_source_id`; rejected records go to `sluice.rejects` under the source.
struct RowLoader: Sendable {
    /// Rejected rows kept per source (all of them are counted).
    static let maximumStoredRejects = 10_000
    /// Bytes of a rejected record's raw text kept.
    static let maximumRawBytes = 2048
    /// Reason code of records removed by a `dedupe` step.
    static let duplicateKeyCode = "duplicate_key"

    /// What rows come from: a file (`batch`) or a stream micro-batch (`stream`), by id.
    struct Source: Sendable {
        let kind: IngestionReport.Kind
        let id: String
    }

    /// Records in one format; a source is read as one or more inputs, numbered on across them.
    struct Input {
        let format: String
        /// Feeds the records, as bytes in `format`, to the closure it is given.
        let read: (_ consume: ([UInt8]) throws -> Void) throws -> Void
    }

    /// How the tenant's advisory lock is taken (see ``lockTenant(on:)``).
    enum Lock: Sendable {
        /// Shared with the tenant's other loads: claimed files and stream micro-batches.
        case shared
        /// Alone, or not at all (throws ``ArrivingFile/Detached``): an ingest following an upload.
        case exclusiveOrDetach
    }

    /// One rejected record, numbered from 1 across the source's inputs.
    struct Reject: Sendable {
        let number: Int
        let line: Int?
        let field: String?
        let reason: String
        let message: String
        let raw: String?
    }

    /// What a load did: the counts, and the rejects stored (at most ``maximumStoredRejects``).
    struct Result: Sendable {
        var rowsTotal = 0
        var rowsIngested = 0
        var rowsRejected = 0
        var rejectedByReason: [String: Int] = [:]
        var rejects: [Reject] = []
        /// Records read from each input, in order: input `i`'s records are numbered after those of the ones before.
        var inputCounts: [Int] = []
    }

    let definition: TenantDefinition
    /// Polled while reading: `true` aborts the load (the caller's transaction rolls back).
    let shouldStop: @Sendable () -> Bool
    var lock = Lock.shared
    /// When a load still running fails with `ingest_timeout` (the tenant's `timeout_seconds`).
    var deadline: ContinuousClock.Instant = .now + .seconds(600)

    /// Loads the records of `inputs`. Call it inside a transaction. Repeatable inputs may be read twice (see the
    /// type's documentation); others go through the temporary table at once. `numbersOfDuplicates` also
    /// returns the records a `dedupe` step removed among the rejects (a micro-batch answers for each message).
    func load(_ source: Source, inputs: [Input], pipeline: RecordPipeline, onConflict: IngestApp.ConflictAction,
              repeatable: Bool, numbersOfDuplicates: Bool = false, on connection: PostgresConnection) throws -> Result {
        try lockTenant(on: connection)
        var result: Result?
        if repeatable {
            _ = try connection.execute("SAVEPOINT sluice_direct")
            do {
                result = try copy(source, inputs: inputs, pipeline: pipeline, staged: false, on: connection)
                _ = try connection.execute("RELEASE SAVEPOINT sluice_direct")
            } catch let error as PostgresError where error.isUniqueViolation || error.code == .copyInterrupted {
                _ = try connection.execute("ROLLBACK TO SAVEPOINT sluice_direct")
            }
        }
        if let result {
            try storeRejects(result.rejects, of: source, on: connection)
            return result
        }
        _ = try connection.execute("""
            CREATE TEMP TABLE sluice_stage (LIKE \(storage.qualifiedTableName) INCLUDING DEFAULTS,
                                            sluice_record bigint, sluice_line bigint) ON COMMIT DROP
            """)
        var staged = try copy(source, inputs: inputs, pipeline: pipeline, staged: true, on: connection)
        try storeRejects(staged.rejects, of: source, on: connection)
        if let keepLast = pipeline.dedupeKeepsLast {
            try removeDuplicates(of: source, keepLast: keepLast, returningNumbers: numbersOfDuplicates, result: &staged, on: connection)
        }
        try upsertStage(onConflict: onConflict, on: connection)
        return staged
    }

    /// Loads of one tenant take its advisory lock until they commit: shared for claimed files and stream
    /// micro-batches (as many at once as allowed), exclusive for an ingest that follows an upload, which stops
    /// (``ArrivingFile/Detached``) rather than wait. So no load ever writes keys beside a following ingest (no
    /// deadlock between the two), and the others wait for it to commit or roll back.
    private func lockTenant(on connection: PostgresConnection) throws {
        let key: PostgresValue = .init(TenantService.ingestLock(definition.id))
        switch lock {
        case .shared:
            _ = try connection.query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", [key])
        case .exclusiveOrDetach:
            let taken = try connection.query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS taken", [key])
            guard try taken.first?.decode(Bool.self, "taken") == true else { throw ArrivingFile.Detached() }
        }
    }

    private var storage: TenantStorage { TenantStorage(definition: definition) }
    private var columns: [String] { definition.schema.fields.map { PostgresIdentifier.quote($0.name) } }
    private var sourceColumn: String { PostgresIdentifier.quote(TenantStorage.sourceIDColumn) }

    /// Streams the accepted records with COPY into the tenant table, or into `sluice_stage` with their
    /// record and line numbers when `staged`.
    private func copy(_ source: Source, inputs: [Input], pipeline: RecordPipeline, staged: Bool,
                      on connection: PostgresConnection) throws -> Result {
        var result = Result()
        let target = staged
            ? "sluice_stage (\((columns + [sourceColumn, "sluice_record", "sluice_line"]).joined(separator: ", ")))"
            : "\(storage.qualifiedTableName) (\((columns + [sourceColumn]).joined(separator: ", ")))"
        _ = try connection.copyIn("COPY \(target) FROM STDIN") { writer in
            var rows = CopyTextRows()
            // Copied out so that the per-row closure captures neither `self` nor the whole source.
            let sourceID = source.id, shouldStop = shouldStop, deadline = deadline
            let timeout = definition.serviceAgreement.resources.timeoutSeconds
            var offset = 0
            func take(_ record: RecordStream.Record, _ row: ValidatedRow) throws {
                result.rowsTotal += 1
                let number = offset + record.number
                if result.rowsTotal % 4096 == 0 {
                    if shouldStop() { throw CancellationError() }
                    if ContinuousClock.now > deadline {
                        throw ServiceError(.tooLarge, "ingest_timeout", "the ingest ran longer than \(timeout) s (timeout_seconds) and was stopped")
                    }
                }
                guard let rejection = record.rejection else {
                    row.encode(into: &rows)
                    rows.append(sourceID)
                    if staged {
                        rows.append(number)
                        if let line = record.line { rows.append(line) } else { rows.appendNull() }
                    }
                    rows.endRow()
                    result.rowsIngested += 1
                    if rows.count >= PostgresCopyWriter.chunkSize {
                        try writer.write(rows)
                        rows.removeAll()
                    }
                    return
                }
                result.rowsRejected += 1
                result.rejectedByReason[rejection.code, default: 0] += 1
                if result.rejects.count < Self.maximumStoredRejects {
                    result.rejects.append(Reject(number: number, line: record.line, field: rejection.field.map(Self.storable),
                                                 reason: rejection.code, message: Self.storable(rejection.message),
                                                 raw: record.raw.map { Self.storable(String(decoding: $0.prefix(Self.maximumRawBytes), as: UTF8.self)) }))
                }
            }
            for input in inputs {
                var records = RecordStream(definition: definition, format: input.format, pipeline: pipeline)
                try input.read { bytes in try records.feed(bytes, take) }
                try records.finish(take)
                result.inputCounts.append(result.rowsTotal - offset)
                offset = result.rowsTotal
            }
            try writer.write(rows)
        }
        return result
    }

    /// `text` as PostgreSQL can store it: a rejected record's raw text may hold NUL, which it cannot (the whole
    /// file failed on it); each becomes U+FFFD, as invalid UTF-8 already does.
    static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? String(text.unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : Character($0) }) : text
    }

    /// The rejects table's column naming a source of this kind.
    private static func rejectsColumn(_ source: Source) -> String {
        source.kind == .batch ? "file_id" : "batch_id"
    }

    private func storeRejects(_ rejects: [Reject], of source: Source, on connection: PostgresConnection) throws {
        let column = Self.rejectsColumn(source)
        _ = try connection.execute("DELETE FROM sluice.rejects WHERE \(column) = $1", [.init(source.id)])
        guard !rejects.isEmpty else { return }
        _ = try connection.copyIn("COPY sluice.rejects (\(column), tenant_id, record_number, line, field, reason, message, raw) FROM STDIN") { writer in
            for reject in rejects {
                try writer.writeRow([source.id, definition.id, String(reject.number), reject.line.map(String.init),
                                     reject.field, reject.reason, reject.message, reject.raw])
            }
        }
    }

    /// The `dedupe` step: removes all but the first or last staged record of each key and rejects them.
    private func removeDuplicates(of source: Source, keepLast: Bool, returningNumbers: Bool, result: inout Result,
                                  on connection: PostgresConnection) throws {
        let key = definition.primaryKey.map(PostgresIdentifier.quote).joined(separator: ", ")
        let kept = keepLast ? "last" : "first"
        let message = "the primary key repeats another record of the \(source.kind == .batch ? "file" : "micro-batch"); the \(kept) one was kept"
        let room = max(0, Self.maximumStoredRejects - result.rejects.count)
        let removed = try connection.query("""
            WITH ranked AS (
                SELECT sluice_record, row_number() OVER (PARTITION BY \(key) ORDER BY sluice_record \(keepLast ? "DESC" : "ASC")) AS rank
                FROM sluice_stage),
            removed AS (
                DELETE FROM sluice_stage USING ranked
                WHERE sluice_stage.sluice_record = ranked.sluice_record AND ranked.rank > 1
                RETURNING sluice_stage.sluice_record, sluice_stage.sluice_line),
            stored AS (
                INSERT INTO sluice.rejects (\(Self.rejectsColumn(source)), tenant_id, record_number, line, field, reason, message)
                SELECT $1, $2, sluice_record, sluice_line, NULL, $3, $4 FROM removed ORDER BY sluice_record LIMIT $5)
            SELECT (SELECT count(*) FROM removed)::bigint AS removed,
                   (SELECT string_agg(sluice_record::text, ',' ORDER BY sluice_record)
                    FROM (SELECT sluice_record FROM removed ORDER BY sluice_record LIMIT $6) numbers) AS numbers
            """, [.init(source.id), .init(definition.id), .init(Self.duplicateKeyCode), .init(message), .init(room),
                  .init(returningNumbers ? room : 0)])
        let count = try removed.first?.decode(Int.self, "removed") ?? 0
        guard count > 0 else { return }
        result.rowsIngested -= count
        result.rowsRejected += count
        result.rejectedByReason[Self.duplicateKeyCode, default: 0] += count
        let numbers = try removed.first?.decode(String.self, "numbers")?.split(separator: ",").compactMap { Int($0) } ?? []
        result.rejects += numbers.map { Reject(number: $0, line: nil, field: nil, reason: Self.duplicateKeyCode, message: message, raw: nil) }
    }

    /// Moves the staged rows into the tenant table. A key repeated among them would make `DO UPDATE`
    /// fail (cardinality violation): then only the last record of each key is inserted.
    private func upsertStage(onConflict: IngestApp.ConflictAction, on connection: PostgresConnection) throws {
        let key = definition.primaryKey.map(PostgresIdentifier.quote)
        let ingestedAt = PostgresIdentifier.quote(TenantStorage.ingestedAtColumn)
        let assignments = (columns + [sourceColumn, ingestedAt]).filter { !key.contains($0) }
            .map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        let updates = onConflict == .update && !assignments.isEmpty
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
