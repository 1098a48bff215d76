import ArgumentParser
import Foundation
import SluiceCore
import SluiceServer

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest local files for a tenant through the batch engine, now.",
        discussion: """
            Files are staged exactly like uploads (the tenant's constraints apply) and ingested at once, \
            whatever the tenant's schedule. Prints one JSON object per file; exits 1 if any file failed. \
            Uses the same store as `sluice serve` (--database-url, or the embedded cluster under --data-dir, \
            shared with a running server).
            """)

    @Option(help: "Tenant id.")
    var tenant: String

    @Argument(help: "Files to ingest.")
    var files: [String]

    @OptionGroup var store: StoreOptions

    @OptionGroup var sandbox: SandboxOptions

    @Flag(help: "Ingest content identical to a file already staged again.")
    var force = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one file") }
        for file in files where !FileManager.default.isReadableFile(atPath: file) {
            throw ValidationError("\(file) does not exist or is not readable")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        var configuration = SluiceConfiguration()
        store.apply(to: &configuration)
        sandbox.apply(to: &configuration)
        configuration.ingest.workers = 0
        let results: [FileRecord]
        do {
            results = try await LocalIngestion(configuration: configuration, logger: logger)
                .run(tenant: tenant, paths: files, force: force)
        } catch let error as ServiceError {
            throw ValidationError("\(error.code): \(error.message)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        for file in results {
            print(String(decoding: try encoder.encode(file), as: UTF8.self))
        }
        if results.contains(where: { $0.state == "failed" }) { throw ExitCode(1) }
    }
}
