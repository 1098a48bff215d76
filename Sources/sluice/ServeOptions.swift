import ArgumentParser
import Foundation
import Logging
import SluiceHTTP
import SluiceServer

/// The options of `sluice serve`, which `sluice demo` takes too.
struct ServeOptions: ParsableArguments {
    @Option(help: "Address to listen on, HOST:PORT (env SLUICE_LISTEN).")
    var listen: String = environment("SLUICE_LISTEN") ?? "127.0.0.1:8080"

    @Option(help: "Serve HTTPS with this PEM certificate chain (the server's certificate first); needs --tls-key. Read again on SIGHUP (env SLUICE_TLS_CERT).")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert (unencrypted). Read again on SIGHUP (env SLUICE_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "Address of the operations listener, which serves only /healthz, /readyz and /metrics with connection slots of its own, so probes and scrapes are answered while the API is saturated; 'none' for none (env SLUICE_OPERATIONS_LISTEN).")
    var operationsListen: String = environment("SLUICE_OPERATIONS_LISTEN") ?? "127.0.0.1:8081"

    @OptionGroup var store: StoreOptions

    @Option(help: "HTTP worker threads (default: number of cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Maximum open HTTP connections.")
    var maxConnections: Int = 1024

    @Option(help: "Maximum open HTTP connections per client IP (0 = unlimited).")
    var maxConnectionsPerIP: Int = 256

    @Option(help: "Seconds before an idle HTTP connection is closed.")
    var idleTimeout: Int = 60

    @Option(help: "Seconds a connection has to send its first request line and headers after it opens (later ones: --idle-timeout after the previous response).")
    var headTimeout: Double = 10

    @Option(help: "Bytes per second a request body must arrive at, at least, measured over 10 s windows (0 = no minimum); slower uploads get 408 body_too_slow.")
    var minBodyRate: Int = 1024

    @Option(help: "Seconds scrapes share one rendered /metrics snapshot (0 = render every scrape).")
    var metricsMaxAge: Double = 1

    @Option(help: "Files ingested at once by this process (0 = stage uploads without ingesting them).")
    var ingestWorkers: Int = 2

    @Option(help: "Seconds a claimed file stays leased without renewal; after a crash, another process takes it then.")
    var ingestLease: Int = 60

    @Option(help: "Times a file is taken for ingestion at most; then it fails with too_many_attempts (replay retries it).")
    var ingestMaxAttempts: Int = 5

    @Flag(inversion: .prefixedNo,
          help: "Ingest an upload while it arrives when its tenant has no other files waiting and a worker is free.")
    var ingestDuringUpload = true

    @OptionGroup var sandbox: SandboxOptions

    @OptionGroup var stream: StreamOptions

    @Option(help: "The URL operators reach Sluice at, linked from notifications (env SLUICE_EXTERNAL_URL; default: from --listen).")
    var externalURL: String?

    @Option(help: "Seconds between evaluations of the monitor's rules (CONFIG_DIR/rules/*.yaml; reloaded on SIGHUP).")
    var rulesInterval: Double = 15

    @Option(help: "Seconds between this instance's heartbeats; an instance silent for six is dead, and what it left in staging is removed.")
    var heartbeatInterval: Double = 10

    @Option(help: "Seconds in-flight requests may take to finish on SIGINT/SIGTERM; the process exits at the latest 15 s after that.")
    var shutdownGrace: Double = 30

    @Option(help: "Maximum store (PostgreSQL) connections.")
    var storeConnections: Int = 10

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (certificatePath == nil) == (keyPath == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        _ = try parsedAddress()
        _ = try parsedOperationsAddress()
        guard headTimeout > 0, minBodyRate >= 0, maxConnectionsPerIP >= 0 else {
            throw ValidationError("--head-timeout must be positive, --min-body-rate and --max-connections-per-ip at least 0")
        }
        guard threads > 0, maxConnections > 0, storeConnections > 0, idleTimeout > 0, metricsMaxAge >= 0, ingestWorkers >= 0,
              ingestLease >= 3, ingestMaxAttempts > 0, heartbeatInterval >= 0.1, shutdownGrace >= 0, rulesInterval >= 0.1 else {
            throw ValidationError("--threads, --max-connections, --store-connections, --idle-timeout and --ingest-max-attempts must be positive, --ingest-lease at least 3, --heartbeat-interval and --rules-interval at least 0.1")
        }
        // Each file being ingested holds a store connection; uploads, the API and the queue need others.
        guard storeConnections >= ingestWorkers + 2 else {
            throw ValidationError("--store-connections (\(storeConnections)) must be at least --ingest-workers + 2 (\(ingestWorkers + 2))")
        }
    }

    /// How long a termination signal waits for in-flight requests, and 15 s more for the rest, before the exit.
    var forcedExitAfter: Duration { .milliseconds(Int((shutdownGrace + 15) * 1000)) }

    /// The service's configuration from these options and the environment.
    func configuration(logger: Logger) throws -> SluiceConfiguration {
        var configuration = SluiceConfiguration()
        configuration.http.address = try parsedAddress()
        if let certificatePath, let keyPath {
            do {
                configuration.http.tls = try TLSCertificate(certificatePath: certificatePath, keyPath: keyPath)
            } catch {
                logger.critical("sluice failed", metadata: ["error": "\(error)"])
                throw ExitCode.failure
            }
        }
        configuration.http.threadCount = threads
        configuration.http.connectionLimit = maxConnections
        configuration.http.perIPConnectionLimit = maxConnectionsPerIP
        configuration.http.idleTimeoutSeconds = idleTimeout
        configuration.http.headTimeoutSeconds = headTimeout
        configuration.http.minimumBodyBytesPerSecond = minBodyRate
        configuration.operations = try parsedOperationsAddress().map {
            var operations = SluiceConfiguration.operationsListener(at: $0)
            operations.shutdownGraceSeconds = shutdownGrace
            return operations
        }
        configuration.http.shutdownGraceSeconds = shutdownGrace
        store.apply(to: &configuration)
        configuration.store.maximumConnections = storeConnections
        configuration.metrics.snapshotMaximumAgeSeconds = metricsMaxAge
        configuration.ingest.workers = ingestWorkers
        configuration.ingest.lease = .seconds(ingestLease)
        configuration.ingest.ingestDuringUpload = ingestDuringUpload
        sandbox.apply(to: &configuration)
        stream.apply(to: &configuration)
        configuration.ingest.maxAttempts = ingestMaxAttempts
        configuration.heartbeatInterval = .milliseconds(Int(heartbeatInterval * 1000))
        configuration.adminToken = environment("SLUICE_ADMIN_TOKEN")
        configuration.monitor.interval = .milliseconds(Int(rulesInterval * 1000))
        configuration.externalURL = externalURL ?? environment("SLUICE_EXTERNAL_URL")
        configuration.alertsWebhookToken = environment("SLUICE_ALERTS_WEBHOOK_TOKEN").flatMap { $0.isEmpty ? nil : $0 }
        return configuration
    }

    private var certificatePath: String? { tlsCert ?? environment("SLUICE_TLS_CERT") }
    private var keyPath: String? { tlsKey ?? environment("SLUICE_TLS_KEY") }

    private func parsedOperationsAddress() throws -> ListenAddress? {
        guard operationsListen != "none" else { return nil }
        do {
            return try ListenAddress(parsing: operationsListen)
        } catch {
            throw ValidationError("--operations-listen: \(error)")
        }
    }

    private func parsedAddress() throws -> ListenAddress {
        do {
            return try ListenAddress(parsing: listen)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
