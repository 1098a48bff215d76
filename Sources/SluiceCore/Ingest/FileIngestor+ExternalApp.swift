import Foundation
import SluiceStore

extension FileIngestor {
    /// An external app's run that did not succeed: the file fails with `error`, keeping the app's stderr.
    struct AppFailure: Error {
        let error: ServiceError
        let diagnostics: String
        /// `failed`, `timeout` or `killed`.
        let run: String
    }

    /// What a successful external app run left to load: the files holding its NDJSON records (its spooled
    /// standard output, or the files in its output directory).
    struct AppOutput: Sendable {
        let result: ExternalAppResult
        let files: [String]
    }

    /// Runs the tenant's external app on the claimed file, before any store connection is taken: an app may
    /// run up to its timeout, and must not hold a pooled connection or an open transaction (and with it the
    /// tenant's lock) meanwhile. Standard output is spooled to `out/<file id>.stdout` beside the output
    /// directories. Throws ``AppFailure`` when the app fails. Blocking: call it from a dedicated thread.
    func runExternalApp(_ claim: FileQueue.Claim) throws -> AppOutput {
        let file = claim.file
        let runner = try self.runner(for: file)
        let inputPath = try staging.finalPath(tenant: file.tenant, id: file.id, sanitizedName: file.storedName)
        // Missing here, it may be there for another instance: the queue retries it (the app must not fail it).
        guard FileManager.default.fileExists(atPath: inputPath) else {
            throw ServiceError(.unavailable, "staged_file_missing", "the staged file \(inputPath) cannot be opened")
        }
        let spoolPath = runner.outputDirectory(fileID: file.id) + ".stdout"
        try FileManager.default.createDirectory(atPath: (spoolPath as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let spool = try SpoolFile(path: spoolPath, limit: Int64(limits.maximumInflatedBytes))
        do {
            let result = try runner.run(inputPath: inputPath, fileID: file.id, shouldStop: shouldStop, onOutput: spool.write)
            try spool.close()
            if let error = result.error {
                throw AppFailure(error: error, diagnostics: Self.diagnostics(result), run: result.outcome.rawValue)
            }
            return AppOutput(result: result, files: runner.output == .stdout ? [spoolPath] : result.outputFiles)
        } catch {
            try? removeExternalAppOutput(of: file)
            throw error
        }
    }

    /// Loads the NDJSON records of an external app's run exactly like the declarative app's records.
    func ingest(_ claim: FileQueue.Claim, appOutput: AppOutput, on connection: PostgresConnection,
                finish: (PostgresConnection, Outcome) throws -> Void) throws -> Outcome {
        let source: Source = { consume in
            for output in appOutput.files {
                try StagedFileReader(path: output, gzip: false, limits: limits).read(consume)
            }
        }
        return try ingest(claim.file, format: "ndjson", pipeline: .empty, source: source, repeatable: false, annotate: { outcome in
            outcome.appRun = appOutput.result.outcome.rawValue
            outcome.diagnostics = Self.diagnostics(appOutput.result)
        }, on: connection, finish: finish)
    }

    /// Removes what an external app's run for `file` wrote (its output directory and spooled standard output).
    func removeExternalAppOutput(of file: FileRecord) throws {
        let runner = try self.runner(for: file)
        try runner.removeOutputDirectory(fileID: file.id)
        unlink(runner.outputDirectory(fileID: file.id) + ".stdout")
    }

    private func runner(for file: FileRecord) throws -> ExternalAppRunner {
        ExternalAppRunner(tenant: file.tenant, sourcePath: try staging.tenantDirectory(file.tenant), app: definition.ingestApp,
                          resources: definition.serviceAgreement.resources, network: definition.serviceAgreement.network,
                          sandbox: sandbox)
    }

    private static func diagnostics(_ result: ExternalAppResult) -> String {
        result.stderrTruncated ? result.stderr + "\n[stderr truncated]" : result.stderr
    }
}

/// An app's standard output on its way to disk, refusing more than `limit` bytes.
private final class SpoolFile {
    private let handle: FileHandle
    private let limit: Int64
    private var written: Int64 = 0

    init(path: String, limit: Int64) throws {
        unlink(path)
        // Never through a link planted in its place.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ServiceError(.unavailable, "output_dir_failed", "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        self.handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        self.limit = limit
    }

    func write(_ bytes: [UInt8]) throws {
        written += Int64(bytes.count)
        guard written <= limit else {
            throw ServiceError(.tooLarge, "app_output_too_large", "the ingest app wrote more than \(limit) bytes")
        }
        try handle.write(contentsOf: bytes)
    }

    func close() throws { try handle.close() }
}
