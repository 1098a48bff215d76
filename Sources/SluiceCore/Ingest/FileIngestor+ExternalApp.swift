import SluiceStore

extension FileIngestor {
    /// An external app's run that did not succeed: the file fails with `error`, keeping the app's stderr.
    struct AppFailure: Error {
        let error: ServiceError
        let diagnostics: String
        /// `failed`, `timeout` or `killed`.
        let run: String
    }

    /// Runs the tenant's external app on the staged file and loads the NDJSON records it writes (on
    /// stdout, streamed, or in its output directory) exactly like the declarative app's records.
    func ingestWithExternalApp(_ claim: FileQueue.Claim, inputPath: String, on connection: PostgresConnection,
                               finish: (PostgresConnection, Outcome) throws -> Void) throws -> Outcome {
        let file = claim.file
        let runner = ExternalAppRunner(tenant: file.tenant, sourcePath: try staging.tenantDirectory(file.tenant),
                                       app: definition.ingestApp, resources: definition.serviceAgreement.resources)
        defer { try? runner.removeOutputDirectory(fileID: file.id) }
        var run: ExternalAppResult?
        let source: Source = { consume in
            let result = try runner.run(inputPath: inputPath, fileID: file.id, onOutput: consume)
            run = result
            if let error = result.error {
                throw AppFailure(error: error, diagnostics: Self.diagnostics(result), run: result.outcome.rawValue)
            }
            for output in result.outputFiles {
                try StagedFileReader(path: output, gzip: false, limits: limits).read(consume)
            }
        }
        return try ingest(file, format: "ndjson", pipeline: .empty, source: source, repeatable: false, annotate: { outcome in
            outcome.appRun = run?.outcome.rawValue
            outcome.diagnostics = run.map(Self.diagnostics)
        }, on: connection, finish: finish)
    }

    private static func diagnostics(_ result: ExternalAppResult) -> String {
        result.stderrTruncated ? result.stderr + "\n[stderr truncated]" : result.stderr
    }
}
