import Dispatch
import Foundation
import Logging
import SluiceCommon
import SluiceCore
import SluiceMetrics
import SluiceStore
import SluiceSystem

/// `sluice ingest`: stages local files for a tenant exactly as uploads are staged (same constraints,
/// checksum and ledger) and ingests them at once through the batch engine, on the store the service
/// uses. An embedded cluster already running (a `sluice serve` on the same data directory) is shared
/// and left running; one started here is stopped at the end.
public struct LocalIngestion: Sendable {
    private let configuration: SluiceConfiguration
    private let logger: Logger

    public init(configuration: SluiceConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Stages and ingests `paths` for `tenant`, in order; returns each file's final ledger entry. With
    /// `force`, content identical to an already staged file is staged and ingested again.
    public func run(tenant: String, paths: [String], force: Bool) async throws -> [FileRecord] {
        var cluster: EmbeddedPostgres?
        var connectionString = configuration.store.databaseURL ?? ""
        // While a `serve` holds the data directory, its cluster is used and never stopped; otherwise this run
        // holds it, so no `serve` can start on a cluster this run will stop.
        var lock: DataDirectoryLock?
        defer { lock?.release() }
        if configuration.store.databaseURL == nil {
            let embedded = try SluiceService.embeddedCluster(configuration, logger: logger)
            lock = try? DataDirectoryLock(directory: configuration.dataDirectory)
            if lock != nil, !(try await runOnDedicatedThread(name: "sluice.store.embedded") { embedded.isRunning }) { cluster = embedded }
            connectionString = try await embedded.start()
        }
        let pool = PostgresConnectionPool(connectionString: connectionString,
                                          configuration: .init(logger: logger, lockTimeout: configuration.store.lockTimeout))
        do {
            let files = try await ingest(tenant: tenant, paths: paths, force: force, pool: pool)
            await pool.close()
            try await cluster?.stop()
            return files
        } catch {
            await pool.close()
            try? await cluster?.stop()
            throw error
        }
    }

    private func ingest(tenant: String, paths: [String], force: Bool, pool: PostgresConnectionPool) async throws -> [FileRecord] {
        _ = try await PlatformSchema.migrator.migrate(using: pool)
        // An instance like any other while it stages: a server's recovery must not take its uploads for dead.
        let instanceID = InstanceHeartbeat.makeInstanceID() + "-cli"
        let heartbeat = InstanceHeartbeat(pool: pool, instanceID: instanceID, version: SluiceBuild.version, logger: logger)
        try await heartbeat.beat()
        let beating = Task { await heartbeat.run(components: ComponentRegistry()) }
        defer { beating.cancel() }
        let stagingRoot = configuration.stagingDirectory ?? StagingArea.defaultRoot(dataDirectory: configuration.dataDirectory)
        // Created private before anything is written in it.
        let staging = StagingArea(root: stagingRoot, instance: instanceID)
        try await staging.closeToOthers()
        try await StagingBinding(pool: pool, root: stagingRoot).verify()
        let tenants = TenantService(pool: pool, staging: staging, logger: logger,
                                    credentials: SecretFiles(dataDirectory: configuration.dataDirectory))
        if let directory = configuration.configDirectory { try await tenants.applyConfigurationDirectory(directory) }
        let registry = MetricsRegistry()
        let uploads = UploadService(pool: pool, tenants: tenants, staging: staging, rateLimiter: RateLimiter(),
                                    metrics: UploadMetrics(registry: registry), logger: logger)
        let engine = BatchIngestManager(configuration: configuration.ingest, pool: pool, tenants: tenants, staging: staging,
                                        sandbox: try await configuration.externalAppSandbox(stagingRoot: stagingRoot, logger: logger),
                                        metrics: IngestMetrics(registry: registry), logger: logger,
                                        owner: instanceID)
        var results: [FileRecord] = []
        for path in paths {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            let request = UploadRequest(tenant: tenant, fileName: URL(fileURLWithPath: path).lastPathComponent,
                                        contentType: nil, contentLength: size, force: force)
            let staged = try await uploads.upload(request, body: LocalFileChunks(path: path))
            results.append(try await engine.ingestNow(tenant: tenant, fileID: staged.file.id))
        }
        return results
    }
}

/// A local file's bytes in 1 MiB chunks, read on a dedicated queue (never on the cooperative pool).
struct LocalFileChunks: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let path: String

    func makeAsyncIterator() -> Iterator { Iterator(path: path) }

    struct Iterator: AsyncIteratorProtocol {
        private static let queue = DispatchQueue(label: "sluice.local-file")
        let path: String
        private var file: Descriptor?

        init(path: String) { self.path = path }

        /// Closes the file when the iterator is done with it, or abandoned.
        private final class Descriptor {
            let fd: Int32
            init(_ fd: Int32) { self.fd = fd }
            deinit { close(fd) }
        }

        mutating func next() async throws -> [UInt8]? {
            if file == nil {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw ServiceError(.invalid, "unreadable_file", "cannot open \(path): \(String(cString: strerror(errno)))")
                }
                file = Descriptor(fd)
            }
            guard let fd = file?.fd, fd >= 0 else { return nil }
            let path = self.path
            let chunk: Result<[UInt8], ServiceError> = await withCheckedContinuation { continuation in
                Self.queue.async {
                    var buffer = [UInt8](repeating: 0, count: 1 << 20)
                    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    guard count >= 0 else {
                        continuation.resume(returning: .failure(ServiceError(
                            .invalid, "unreadable_file", "reading \(path) failed: \(String(cString: strerror(errno)))")))
                        return
                    }
                    buffer.removeLast(buffer.count - count)
                    continuation.resume(returning: .success(buffer))
                }
            }
            let bytes = try chunk.get()
            if bytes.isEmpty {
                file = Descriptor(-1)
                return nil
            }
            return bytes
        }
    }
}
