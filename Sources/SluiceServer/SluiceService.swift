import Foundation
import Logging
import SluiceAPI
import SluiceCommon
import SluiceCore
import SluiceHTTP
import SluiceMetrics
import SluiceOutbound
import SluiceStore
import SluiceSystem
import Synchronization

/// The running Sluice service: store (embedded or external), migrations, metrics, background
/// components and the HTTP front door, started in that order and stopped in reverse.
public final class SluiceService: Sendable {
    private let configuration: SluiceConfiguration
    private let logger: Logger
    private let http = Mutex<HTTPServer?>(nil)

    public init(configuration: SluiceConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The HTTP server's bound port, once started.
    public var port: UInt16? { http.withLock { $0?.port } }

    /// Runs until `shutdown` fires (e.g. SIGTERM), then stops gracefully: stop accepting, finish
    /// in-flight requests, stop background work, close the store, stop the embedded cluster. At every `reload`
    /// (e.g. SIGHUP) the TLS certificate is read again.
    public func run(until shutdown: ShutdownSignal, reload: ReloadSignal = ReloadSignal()) async throws {
        if let certificate = configuration.http.tls {
            let logger = self.logger
            reload.onFire {
                do {
                    try certificate.reload()
                    logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(certificate.certificatePath)"])
                } catch {
                    logger.error("TLS certificate not reloaded; the current one is still served", metadata: ["error": "\(error)"])
                }
            }
        }
        let embedded = try await startEmbeddedStoreIfNeeded()
        // Only a cluster this process started is stopped on exit (one reused was started by someone else).
        let stopping = embedded?.started == true ? embedded?.cluster : nil
        defer { embedded?.lock.release() }
        do {
            try await serve(connectionString: embedded?.connectionString ?? configuration.store.databaseURL ?? "",
                            until: shutdown, reload: reload)
        } catch {
            try? await stopping?.stop()
            throw error
        }
        if let stopping {
            try await stopping.stop()
            logger.info("embedded PostgreSQL stopped")
        }
    }

    private func startEmbeddedStoreIfNeeded() async throws
        -> (cluster: EmbeddedPostgres, connectionString: String, started: Bool, lock: DataDirectoryLock)? {
        guard configuration.store.databaseURL == nil else { return nil }
        let cluster = try Self.embeddedCluster(configuration, logger: logger)
        // One `serve` per data directory runs its embedded cluster; a second one refuses instead of sharing it.
        let lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        do {
            let running = try await runOnDedicatedThread(name: "sluice.store.embedded") { cluster.isRunning }
            logger.info(running ? "reusing the running embedded PostgreSQL" : "starting embedded PostgreSQL",
                        metadata: ["directory": "\(cluster.clusterDirectory)"])
            return (cluster, try await cluster.start(), !running, lock)
        } catch {
            lock.release()
            throw error
        }
    }

    /// The embedded cluster under the configuration's data directory (created if needed), not started.
    static func embeddedCluster(_ configuration: SluiceConfiguration, logger: Logger) throws -> EmbeddedPostgres {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        return EmbeddedPostgres(configuration: .init(
            dataDirectory: URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path,
            logger: logger))
    }

    private func serve(connectionString: String, until shutdown: ShutdownSignal, reload: ReloadSignal) async throws {
        logger.info("using the PostgreSQL store", metadata: ["database": "\(PostgresConnectionString.redacted(connectionString))"])
        let registry = MetricsRegistry(configuration: .init(
            snapshotMaximumAge: .milliseconds(Int(configuration.metrics.snapshotMaximumAgeSeconds * 1000))))
        ProcessMetrics.register(in: registry)
        BuildInfo.register(in: registry, version: SluiceBuild.version, revision: SluiceBuild.revision)

        let storeMetrics = StoreMetrics(registry: registry)
        let pool = PostgresConnectionPool(connectionString: connectionString, configuration: .init(
            maximumConnections: configuration.store.maximumConnections,
            logger: logger, onQueryError: { storeMetrics.record($0) }, lockTimeout: configuration.store.lockTimeout,
            reservedForServiceWork: configuration.store.reservedForServiceWork))
        storeMetrics.observe(pool, in: registry)

        let applied = try await PlatformSchema.migrator.migrate(using: pool)
        logger.info("platform schema ready", metadata: ["applied": "\(applied)"])

        // Registered before anything is staged: other instances' recovery keeps this one's uploads in progress.
        let instanceID = InstanceHeartbeat.makeInstanceID()
        let heartbeat = InstanceHeartbeat(pool: pool, instanceID: instanceID, version: SluiceBuild.version,
                                          interval: configuration.heartbeatInterval, logger: logger)
        try await heartbeat.beat()
        let stagingRoot = configuration.stagingDirectory ?? StagingArea.defaultRoot(dataDirectory: configuration.dataDirectory)
        // Created private before anything is written in it.
        let staging = StagingArea(root: stagingRoot, instance: instanceID)
        try await staging.closeToOthers()
        try await StagingBinding(pool: pool, root: stagingRoot).verify()
        let recovery = StagingRecovery(pool: pool, staging: staging, instanceExpiry: heartbeat.expiry, logger: logger)
        let recovered = try await recovery.run()
        if !recovered.isEmpty { logger.notice("removed unpublished staging files", metadata: ["files": "\(recovered)"]) }
        let credentials = SecretFiles(dataDirectory: configuration.dataDirectory)
        let tenants = TenantService(pool: pool, staging: staging, logger: logger, keys: APIKeyCache(configuration: configuration.apiKeyCache),
                                    credentials: credentials)
        if let directory = configuration.configDirectory {
            try await tenants.applyConfigurationDirectory(directory)
        }
        let ingest = BatchIngestManager(configuration: configuration.ingest, pool: pool, tenants: tenants, staging: staging,
                                        sandbox: try await configuration.externalAppSandbox(stagingRoot: stagingRoot, logger: logger),
                                        metrics: IngestMetrics(registry: registry), logger: logger,
                                        owner: instanceID)
        let stream = StreamManager(configuration: configuration.stream, pool: pool, tenants: tenants, staging: staging,
                                   sandbox: ingest.sandbox, metrics: StreamMetrics(registry: registry), logger: logger,
                                   instanceID: instanceID)
        let uploadMetrics = UploadMetrics(registry: registry)
        let rateLimiter = RateLimiter()
        let uploads = UploadService(pool: pool, tenants: tenants, staging: staging, rateLimiter: rateLimiter,
                                    metrics: uploadMetrics, logger: logger, ingest: ingest)
        let auth = Authenticator(adminToken: try await adminToken(credentials), tenants: tenants,
                                 configuration: configuration.authentication, registry: registry)

        var monitorConfiguration = configuration.monitor
        monitorConfiguration.directory = configuration.configDirectory
        let notificationMetrics = NotificationMetrics(registry: registry)
        let externalURL = configuration.externalURL
            ?? "\(configuration.http.tls == nil ? "http" : "https")://\(configuration.http.address.host):\(configuration.http.address.port)"
        let monitor = Monitor(configuration: monitorConfiguration, pool: pool, tenants: tenants,
                              receivers: [StreamManagerReceiver(control: stream)],
                              makeReceiver: { [logger] integration in
                                  switch integration {
                                  case .webhook(let webhook):
                                      WebhookReceiver(configuration: webhook, http: CurlHTTPClient(), log: DeliveryLog(pool: pool),
                                                      metrics: notificationMetrics, externalURL: externalURL, logger: logger)
                                  case .email(let email):
                                      EmailReceiver(configuration: email, mailer: CurlMailClient(), log: DeliveryLog(pool: pool),
                                                    metrics: notificationMetrics, externalURL: externalURL, logger: logger)
                                  }
                              },
                              metrics: MonitorMetrics(registry: registry), logger: logger)
        // A bad rule file refuses the start, as it refuses a reload (which keeps the rules in force).
        try await monitor.reloadOffThePool()
        reload.onFire { _ = try? monitor.reload() }

        let reportPartitions = ReportPartitionMaintenance(pool: pool, logger: logger)
        let retention = RetentionMaintenance(pool: pool, tenants: tenants, staging: staging, logger: logger)
        let components = ComponentRegistry()
        let readiness = Readiness(pool: pool, migrator: PlatformSchema.migrator, components: components)
        let probes = ReadinessProbes(pool: pool, readiness: readiness, instanceID: instanceID, registry: registry, logger: logger)
        let probeInterval = configuration.readinessProbeInterval
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await heartbeat.run(components: components) }
                group.addTask { await recovery.runPeriodically() }
                group.addTask {
                    await uploadMetrics.run(pool: pool, components: components) { rateLimiter.retain(keys: $0) }
                }
                group.addTask { await ingest.run(components: components) }
                group.addTask { await stream.run(components: components) }
                group.addTask { await reportPartitions.run(components: components, registry: registry) }
                group.addTask { await retention.run(components: components, registry: registry) }
                group.addTask { await monitor.run(components: components) }
                group.addTask { await probes.run(interval: probeInterval) }
            }
        }

        let httpMetrics = HTTPMetrics(registry: registry) { [weak self] in self?.http.withLock { $0 } }
        let router = Router(PlatformRoutes(readiness: readiness, registry: registry).routes
                            + TenantRoutes(tenants: tenants, ingest: ingest, stream: stream, auth: auth).routes
                            + StreamRoutes(manager: stream, rejects: RejectLog(pool: pool), auth: auth).routes
                            + FileRoutes(uploads: uploads, ingest: ingest, rejects: RejectLog(pool: pool), auth: auth).routes
                            + ReportRoutes(reports: IngestionReports(pool: pool), auth: auth).routes
                            + RecordRoutes(records: TenantRecords(pool: pool, tenants: tenants, configuration: configuration.records),
                                           auth: auth).routes
                            + SeriesRoutes(store: SeriesStore(pool: pool), auth: auth).routes
                            + AlertRoutes(monitor: monitor, deliveries: DeliveryLog(pool: pool), auth: auth,
                                          webhookToken: configuration.alertsWebhookToken).routes
                            + SilenceRoutes(silences: monitor.silences, auth: auth).routes
                            + OpenAPIRoutes().routes + ConsoleRoutes().routes)
        let server = HTTPServer(configuration: configuration.http, router: router, logger: logger,
                                onRequestCompleted: { httpMetrics.record($0) })
        let operations = configuration.operations.map {
            HTTPServer(configuration: $0, router: Router(PlatformRoutes(readiness: readiness, registry: registry).routes),
                       logger: logger, onRequestCompleted: { httpMetrics.record($0) })
        }
        do {
            try server.start()
            try operations?.start()
        } catch {
            await server.shutdown()
            background.cancel()
            await background.value
            await pool.close()
            throw error
        }
        http.withLock { $0 = server }
        var addresses: Logger.Metadata = ["address": "\(configuration.http.address.host):\(server.port)"]
        if let operations, let address = configuration.operations?.address {
            addresses["operations_address"] = "\(address.host):\(operations.port)"
        }
        logger.info("sluice is serving", metadata: addresses)

        await shutdown.wait()
        logger.info("shutting down")
        await server.shutdown()
        await operations?.shutdown()
        background.cancel()
        await background.value
        await pool.close()
    }

    /// The configured admin token, else the one in the credentials directory, generated there on first use:
    /// the log says where it is, never what it is.
    private func adminToken(_ credentials: SecretFiles) async throws -> String {
        if let token = configuration.adminToken, !token.isEmpty { return token }
        let name = Self.adminTokenFile
        let (token, generated) = try await runOnDedicatedThread(name: "sluice-credentials") { () throws -> (String, Bool) in
            if let stored = credentials.read(name), !stored.isEmpty { return (stored, false) }
            let token = APIKey.generate()
            try credentials.write(name, token)
            return (token, true)
        }
        logger.notice(generated ? "SLUICE_ADMIN_TOKEN is not set: generated an admin token" : "SLUICE_ADMIN_TOKEN is not set: using the stored admin token",
                      metadata: ["token_file": "\(credentials.path(name))"])
        return token
    }

    /// The admin token's file in the credentials directory.
    public static let adminTokenFile = "admin-token"
}
