import Foundation
import SluiceAPI
import SluiceCore
import SluiceHTTP

/// Everything `sluice serve` needs, with defaults; built from flags, environment and the config directory.
public struct SluiceConfiguration: Sendable {
    /// HTTP front door.
    public var http = HTTPServerConfiguration()
    /// A second listener serving only `/healthz`, `/readyz` and `/metrics`, with connection slots of its own,
    /// so probes and scrapes are answered while the public API's slots are all taken; `nil` for none.
    public var operations: HTTPServerConfiguration? = SluiceConfiguration.operationsListener(
        at: ListenAddress(host: "127.0.0.1", port: 8081))

    /// The operations listener's settings: few threads and slots, all of them for operators' tools.
    public static func operationsListener(at address: ListenAddress) -> HTTPServerConfiguration {
        HTTPServerConfiguration(address: address, threadCount: 1, connectionLimit: 64, perIPConnectionLimit: 16,
                                idleTimeoutSeconds: 60, headTimeoutSeconds: 5)
    }
    /// The core data store.
    public var store = Store()
    /// Metrics exposition.
    public var metrics = Metrics()
    /// Batch ingestion of staged files.
    public var ingest = BatchIngestManager.Configuration()
    /// The stream path: queue and micro-batch defaults, windows, request limits.
    public var stream = StreamManager.Configuration()
    /// The monitor: how often rules are evaluated (their directory is the configuration directory).
    public var monitor = Monitor.Configuration()
    /// Reading records back: statement timeout, page size in bytes, export batches.
    public var records = TenantRecords.Configuration()
    /// How often this process records whether it is ready (the `readiness_availability` series).
    public var readinessProbeInterval: Duration = .seconds(15)
    /// The URL operators reach Sluice at, for the links in notifications (`externalURL`, `generatorURL`); nil
    /// derives it from the listen address.
    public var externalURL: String?
    /// A bearer token that may post Alertmanager payloads to `/api/v1/alerts/webhook` besides the admin token.
    public var alertsWebhookToken: String?
    /// Where Sluice keeps its state (the embedded PostgreSQL cluster, later the staging area).
    public var dataDirectory = ".sluice"
    /// The staging directory; `nil` is `<dataDirectory>/staging`. Instances sharing a database share it.
    public var stagingDirectory: String?
    /// How often this instance records that it is alive; one silent for six intervals is taken for dead.
    public var heartbeatInterval: Duration = .seconds(10)
    /// Directory of configuration files: tenant definitions in `tenants/*.yaml|json`, the monitor's rules in
    /// `rules/*.yaml` and its routes in `notifications.yaml`.
    public var configDirectory: String?
    /// How long API-key lookups are remembered (see ``APIKeyCache``).
    public var apiKeyCache = APIKeyCache.Configuration()
    /// The failed-authentication limit per client address.
    public var authentication = Authenticator.Configuration()
    /// The bearer token for administration (`SLUICE_ADMIN_TOKEN`); when absent, the one in
    /// `DATA_DIR/credentials/admin-token`, generated there on first start.
    public var adminToken: String?
    /// Runs tenants' external apps without a sandbox (`--unsandboxed-apps`): as Sluice's own user, seeing what it
    /// sees. Without it they run under bubblewrap, or are refused when it cannot work here.
    public var unsandboxedApps = false

    public struct Store: Sendable {
        /// A PostgreSQL URL or conninfo; `nil` starts an embedded cluster under the data directory.
        public var databaseURL: String?
        public var maximumConnections = 10
        /// No statement waits longer than this for a lock (it then fails, and its request answers 503 or its
        /// file is queued again): a wait on another request or ingest can never be unbounded.
        public var lockTimeout: Duration = .seconds(30)
        /// Connections request handlers can never hold, kept for heartbeats, leases, claims and ingests.
        public var reservedForServiceWork = 2
        public init() {}
    }

    public struct Metrics: Sendable {
        /// Scrapes within this window share one rendered (and gzip'd) snapshot.
        public var snapshotMaximumAgeSeconds = 1.0
        public init() {}
    }

    public init() {}
}

/// Build identity, exported as `sluice_build_info`.
public enum SluiceBuild {
    public static let version = "0.1.0"
    /// The source revision, stamped by `scripts/` through `SLUICE_REVISION`; `unknown` otherwise.
    public static var revision: String {
        ProcessInfo.processInfo.environment["SLUICE_REVISION"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
    }
}
