import Foundation
import SluiceStore

/// Ingests one claimed file into its tenant's table, exactly once, in one transaction with the file's
/// state and report: a crash at any moment leaves either nothing or everything. The rows are loaded by
/// ``RowLoader``, the loader the stream path shares.
struct FileIngestor: Sendable {
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

    /// Loads the records `source` yields. A `repeatable` source may be read twice (see ``RowLoader``).
    /// `annotate` adds what only the source knows (an external app's diagnostics) before `finish`.
    func ingest(_ file: FileRecord, format: String, pipeline: RecordPipeline, source: Source, repeatable: Bool,
                annotate: (inout Outcome) -> Void = { _ in },
                on connection: PostgresConnection, finish: (PostgresConnection, Outcome) throws -> Void) throws -> Outcome {
        let loader = RowLoader(definition: definition, shouldStop: shouldStop, lock: followsUpload ? .exclusiveOrDetach : .shared,
                               deadline: deadline)
        return try connection.withTransaction { connection in
            let loaded = try withoutActuallyEscaping(source) { source in
                try loader.load(RowLoader.Source(kind: .batch, id: file.id), inputs: [RowLoader.Input(format: format, read: source)],
                                pipeline: pipeline, onConflict: definition.ingestApp.onConflict, repeatable: repeatable,
                                on: connection)
            }
            var outcome = Outcome(rowsTotal: loaded.rowsTotal, rowsIngested: loaded.rowsIngested, rowsRejected: loaded.rowsRejected,
                                  rejectedByReason: loaded.rejectedByReason)
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
}
