import Foundation
import Logging
import SluiceServer
import SluiceStore
import SluiceTestSupport

/// A complete Sluice service in this process, on a fresh database of the shared test cluster and a
/// fresh data directory, reachable over loopback.
final class InProcessSluice: Sendable {
    static let adminToken = "test-admin-token"

    let dataDirectory: String
    let databaseURL: String
    let port: UInt16
    private let shutdown: ShutdownSignal
    private let task: Task<Void, any Error>

    private init(dataDirectory: String, databaseURL: String, port: UInt16, shutdown: ShutdownSignal, task: Task<Void, any Error>) {
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.port = port
        self.shutdown = shutdown
        self.task = task
    }

    /// `ingestWorkers` is 0 by default: upload tests look at files as staged, before ingestion.
    /// `configure` adjusts the configuration last.
    static func start(configDirectory: String? = nil, ingestWorkers: Int = 0, pollInterval: Duration = .milliseconds(50),
                      configure: (inout SluiceConfiguration) -> Void = { _ in }) async throws -> InProcessSluice {
        var configuration = SluiceConfiguration()
        configuration.http.address = .init(host: "127.0.0.1", port: 0)
        // Tests stall uploads on purpose for as long as their checks take, and a loaded machine may take
        // seconds between a connect and its first byte; slow-client limits are tested apart.
        configuration.http.minimumBodyBytesPerSecond = 0
        configuration.http.headTimeoutSeconds = 300
        configuration.operations = nil
        configuration.store.databaseURL = try await TestPostgres.makeDatabase()
        configuration.dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-data")
        configuration.configDirectory = configDirectory
        configuration.adminToken = adminToken
        configuration.metrics.snapshotMaximumAgeSeconds = 0
        configuration.ingest.workers = ingestWorkers
        configuration.ingest.pollInterval = pollInterval
        configure(&configuration)
        var logger = Logger(label: "sluice-test")
        logger.logLevel = .warning
        let service = SluiceService(configuration: configuration, logger: logger)
        let shutdown = ShutdownSignal()
        let task = Task { try await service.run(until: shutdown) }
        let deadline = ContinuousClock.now + .seconds(60)
        while service.port == nil {
            guard ContinuousClock.now < deadline else { throw TestClientError("service did not start") }
            if task.isCancelled { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return InProcessSluice(dataDirectory: configuration.dataDirectory, databaseURL: configuration.store.databaseURL!,
                               port: service.port!, shutdown: shutdown, task: task)
    }

    /// Runs `body` against a fresh service and always stops it afterwards.
    static func with<T>(configDirectory: String? = nil, ingestWorkers: Int = 0,
                        configure: (inout SluiceConfiguration) -> Void = { _ in },
                        _ body: (InProcessSluice) async throws -> T) async throws -> T {
        let sluice = try await start(configDirectory: configDirectory, ingestWorkers: ingestWorkers, configure: configure)
        do {
            let result = try await body(sluice)
            try await sluice.stop()
            return result
        } catch {
            try? await sluice.stop()
            throw error
        }
    }

    var client: TestHTTPClient { TestHTTPClient(port: port) }

    func stop() async throws {
        shutdown.fire()
        try await task.value
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    /// Sends a request with `Authorization: Bearer token`.
    func send(_ method: String, _ path: String, token: String?, headers: [(String, String)] = [],
              body: TestHTTPClient.Body? = nil) async throws -> TestHTTPResponse {
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        return try await client.send(method, path, headers: all, body: body)
    }

    /// Creates a tenant from a JSON or YAML definition and returns its API key.
    func createTenant(_ definition: String, contentType: String = "application/json") async throws -> String {
        try await client.createTenant(definition, contentType: contentType, adminToken: Self.adminToken)
    }

    /// Uploads `text` as a raw body named `name` and returns the new file's id.
    func upload(_ tenant: String, key: String, name: String, _ text: String, force: Bool = false) async throws -> String {
        let response = try await send("POST", "/api/v1/tenants/\(tenant)/files?name=\(name)\(force ? "&force=true" : "")",
                                      token: key, body: .bytes(Array(text.utf8)))
        guard let id = try response.json()["id"] as? String else { throw TestClientError(response.text) }
        return id
    }

    /// Waits up to `timeout` until the file leaves the queue and returns its final entry.
    func finished(_ tenant: String, _ id: String, key: String, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let file = try await send("GET", "/api/v1/tenants/\(tenant)/files/\(id)", token: key).json()
            if let state = file["state"] as? String, ["succeeded", "failed", "partial"].contains(state) { return file }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestClientError("file \(id) was not ingested in time")
    }

    /// Uploads `text` and waits for its ingestion; returns the file's id and final entry.
    func uploadAndWait(_ tenant: String, key: String, name: String, _ text: String,
                       force: Bool = false) async throws -> (id: String, file: [String: Any]) {
        let id = try await upload(tenant, key: key, name: name, text, force: force)
        return (id, try await finished(tenant, id, key: key))
    }

    /// Runs `sql` on a fresh connection to the service's database.
    func query(_ sql: String) throws -> PostgresRows {
        let connection = try PostgresConnection(connectionString: databaseURL)
        defer { connection.close() }
        return try connection.query(sql)
    }

    /// Runs the statements of `sql` on a fresh connection to the service's database.
    func execute(_ sql: String) throws {
        let connection = try PostgresConnection(connectionString: databaseURL)
        defer { connection.close() }
        try connection.executeScript(sql)
    }

    /// Files in the tenant's staging `in/` directory, temporary ones included.
    func stagedFiles(_ tenant: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(dataDirectory)/staging/\(tenant)/in").sorted()) ?? []
    }
}

/// A small tenant definition in the native layout; `constraints` is a YAML block for its constraints.
func tenantYAML(_ id: String, fileTypes: String = "[csv, csv.gz, ndjson, json]", constraints: String = "") -> String {
    """
    id: \(id)
    name: Test tenant \(id)
    file_types: \(fileTypes)
    schema:
      type: record
      name: readings
      fields:
        - {name: sensor, type: string}
        - {name: at, type: {type: long, logicalType: timestamp-millis}}
        - {name: value, type: double}
        - {name: note, type: ["null", string], default: null}
    primary_key: [sensor, at]
    \(constraints)
    """
}
