import Foundation
import SluiceStore

/// What one request of a micro-batch gives the loader once its tenant's app has run: its records, and which
/// message of the request each loaded record is.
struct StreamPart: Sendable {
    let entry: StreamEntry
    let format: String
    /// The records, in `format`.
    let records: [UInt8]
    /// The message index of the loader's n-th record of this part; `nil` when they are the same.
    let indexes: [Int]?
    /// Messages the app itself rejected (an external app's drop markers, poison messages).
    let appRejects: [StreamAnswer.Reject]

    /// A request whose messages go to the loader as sent (a declarative app).
    init(entry: StreamEntry) {
        self.init(entry: entry, format: entry.payload.loaderFormat, records: entry.payload.body, indexes: nil, appRejects: [])
    }

    init(entry: StreamEntry, format: String, records: [UInt8], indexes: [Int]?, appRejects: [StreamAnswer.Reject]) {
        self.entry = entry
        self.format = format
        self.records = records
        self.indexes = indexes
        self.appRejects = appRejects
    }
}

/// Commits a micro-batch: the rows of all its requests in one COPY and one transaction, with the batch's
/// ledger entry, its rejects and its requests' idempotency keys, so that an answer is given only for what
/// is durable, and a key is never used twice.
struct StreamCommitter: Sendable {
    let pool: PostgresConnectionPool
    /// The Sluice process committing, for the ledger.
    let instanceID: String
    /// Deadlocks and serialization failures are retried this many times.
    var attempts = 3

    /// One result per part, in order.
    func commit(_ parts: [StreamPart], definition: TenantDefinition) async -> [Result<StreamAnswer, any Error>] {
        var attempt = 1
        while true {
            do {
                return try await pool.withConnection { connection in
                    try connection.withTransaction { try commit(parts, definition: definition, on: $0) }
                }
            } catch {
                if let failure = error as? PostgresError, failure.isTransient, !failure.isStoreUnavailable, attempt < attempts {
                    attempt += 1
                    continue
                }
                let answer = ServiceError.storeUnavailable(error)
                    ?? (error as? ServiceError)
                    ?? ServiceError(.unavailable, "commit_failed", "the micro-batch could not be committed: \(error)", retryAfterSeconds: 1)
                return parts.map { _ in .failure(answer) }
            }
        }
    }

    private func commit(_ parts: [StreamPart], definition: TenantDefinition, on connection: PostgresConnection) throws
        -> [Result<StreamAnswer, any Error>] {
        let batchID = FileID.generate(prefix: "b")
        // Keys first: a key another request committed (or is committing: the insert waits for it) is answered
        // with that request's answer, and its messages are not loaded again.
        var loaded: [Int] = []
        var repeated: [Int: IdempotencyKey] = [:]
        var claimed: Set<String> = []
        for (position, part) in parts.enumerated() {
            guard let key = part.entry.idempotency else {
                loaded.append(position)
                continue
            }
            let inserted = claimed.contains(key.key) ? 0 : try connection.execute("""
                INSERT INTO sluice.stream_idempotency (tenant_id, key, body_sha256) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                """, [.init(definition.id), .init(key.key), .init(key.bodySHA256)])
            if inserted == 1 {
                claimed.insert(key.key)
                loaded.append(position)
            } else {
                repeated[position] = key
            }
        }
        var results = [Result<StreamAnswer, any Error>](repeating: .failure(CancellationError()), count: parts.count)
        if !loaded.isEmpty {
            let app = definition.effectiveStreamApp
            let loader = RowLoader(definition: definition, shouldStop: { false })
            let inputs = loaded.map { position in
                let records = parts[position].records
                return RowLoader.Input(format: parts[position].format) { consume in try consume(records) }
            }
            let result = try loader.load(RowLoader.Source(kind: .stream, id: batchID), inputs: inputs,
                                         pipeline: RecordPipeline(app: app, schema: definition.schema), onConflict: app.onConflict,
                                         repeatable: true, numbersOfDuplicates: true, on: connection)
            let answers = Self.answers(for: loaded.map { parts[$0] }, result: result, batchID: batchID)
            try storeAppRejects(of: loaded.map { parts[$0] }, result: result, batchID: batchID, tenant: definition.id, on: connection)
            let accepted = answers.reduce(0) { $0 + $1.accepted }, rejected = answers.reduce(0) { $0 + $1.rejected }
            _ = try connection.execute("""
                INSERT INTO sluice.stream_batches (id, tenant_id, instance_id, requests, messages, accepted, rejected, bytes)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """, [.init(batchID), .init(definition.id), .init(instanceID), .init(loaded.count), .init(accepted + rejected),
                      .init(accepted), .init(rejected), .init(loaded.reduce(0) { $0 + parts[$1].entry.payload.bytes })])
            let encoder = JSONEncoder()
            for (position, answer) in zip(loaded, answers) {
                results[position] = .success(answer)
                guard let key = parts[position].entry.idempotency else { continue }
                _ = try connection.execute("UPDATE sluice.stream_idempotency SET answer = $3::jsonb WHERE tenant_id = $1 AND key = $2",
                                           [.init(definition.id), .init(key.key),
                                            .init(String(decoding: try encoder.encode(answer), as: UTF8.self))])
            }
        }
        for (position, key) in repeated {
            results[position] = try Self.replay(key, tenant: definition.id, on: connection)
                ?? .failure(ServiceError(.unavailable, "idempotency_key_pending", "the key's first request was not committed; retry",
                                         retryAfterSeconds: 1))
        }
        return results
    }

    /// Each request's answer: its share of the loader's records, mapped back to message indexes, and the
    /// messages its app rejected.
    private static func answers(for parts: [StreamPart], result: RowLoader.Result, batchID: String) -> [StreamAnswer] {
        var rejectsByNumber: [Int: RowLoader.Reject] = [:]
        for reject in result.rejects { rejectsByNumber[reject.number] = reject }
        var first = 1
        return zip(parts, result.inputCounts).map { part, count in
            var rejects = part.appRejects
            for number in first..<(first + count) {
                guard let reject = rejectsByNumber[number] else { continue }
                let position = number - first
                rejects.append(.init(index: part.indexes?[position] ?? position, reason: reject.reason, message: reject.message,
                                     field: reject.field))
            }
            first += count
            rejects.sort { $0.index < $1.index }
            return StreamAnswer(accepted: part.entry.payload.count - rejects.count, rejected: rejects.count, rejects: rejects,
                                batchID: batchID)
        }
    }

    /// Keeps what the apps rejected beside the loader's rejects, numbered after the micro-batch's records.
    private func storeAppRejects(of parts: [StreamPart], result: RowLoader.Result, batchID: String, tenant: String,
                                 on connection: PostgresConnection) throws {
        let rejects = parts.flatMap(\.appRejects)
        guard !rejects.isEmpty else { return }
        var number = result.rowsTotal
        _ = try connection.copyIn("COPY sluice.rejects (batch_id, tenant_id, record_number, field, reason, message) FROM STDIN") { writer in
            for reject in rejects {
                number += 1
                try writer.writeRow([batchID, tenant, String(number), reject.field, reject.reason, RowLoader.storable(reject.message)])
            }
        }
    }

    /// The answer of the request that used `key` first (committed, or in this very micro-batch):
    /// `422 idempotency_key_reused` if it came with another body.
    static func replay(_ key: IdempotencyKey, tenant: String, on connection: PostgresConnection) throws -> Result<StreamAnswer, any Error>? {
        let row = try connection.query("SELECT body_sha256, answer::text AS answer FROM sluice.stream_idempotency WHERE tenant_id = $1 AND key = $2",
                                       [.init(tenant), .init(key.key)]).first
        guard let row, let hash = try row.decode(String.self, "body_sha256") else { return nil }
        guard hash == key.bodySHA256 else { return .failure(IdempotencyKey.reused(key.key)) }
        guard let answer = try row.decode(String.self, "answer") else {
            return .failure(ServiceError(.unavailable, "idempotency_key_pending", "the key's first request is not committed yet; retry",
                                         retryAfterSeconds: 1))
        }
        return .success(try JSONDecoder().decode(StreamAnswer.self, from: Data(answer.utf8)))
    }
}

extension IdempotencyKey {
    /// The answer to a key used again with another body.
    static func reused(_ key: String) -> ServiceError {
        ServiceError(.unprocessable, "idempotency_key_reused", "the Idempotency-Key \"\(key)\" was used before with another body")
    }
}
