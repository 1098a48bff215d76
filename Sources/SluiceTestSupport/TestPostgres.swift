import Foundation
import SluiceStore
import SluiceSystem
import Synchronization

/// One private PostgreSQL cluster per test process, started lazily on first use, shared by all tests and
/// stopped (and its directory removed) when the process exits.
///
/// Tests isolate themselves with ``makeDatabase()``: a fresh, uniquely named database per call.
public enum TestPostgres {
    private final class Shared: Sendable {
        let cluster: EmbeddedPostgres
        let admin: PostgresConnectionPool

        init(cluster: EmbeddedPostgres, admin: PostgresConnectionPool) {
            self.cluster = cluster
            self.admin = admin
        }
    }

    /// The cluster to stop at exit, once one was started.
    private static let running = Mutex<EmbeddedPostgres?>(nil)

    /// Started exactly once (Swift initialises static lets thread-safely). Tests run in parallel, each
    /// service with its own pool (and some with two server processes), hence the connection headroom: a run
    /// peaks at about 320 connections, and a loaded machine, on which tests overlap longer, at more.
    private static let shared = Task<Shared, any Error> {
        let directory = try makeTemporaryDirectory(prefix: "sluice-test-pg")
        let cluster = EmbeddedPostgres(
            configuration: .init(dataDirectory: directory, maxConnections: 800, sharedBuffers: "32MB"))
        running.withLock { $0 = cluster }
        atexit { TestPostgres.stopAtExit() }
        try await cluster.start()
        // Every test creates its databases through this pool, nearly all at the start of a run: on a loaded
        // 2-core machine the queue of CREATE DATABASE statements can take longer than the default 30 s.
        let admin = PostgresConnectionPool(
            connectionString: try cluster.superuserConnectionString(),
            configuration: .init(maximumConnections: 3, acquireTimeout: .seconds(600)))
        return Shared(cluster: cluster, admin: admin)
    }

    /// The shared cluster, started if it is not yet.
    public static func cluster() async throws -> EmbeddedPostgres {
        try await shared.value.cluster
    }

    /// Creates a fresh, uniquely named database in the shared cluster, owned by Sluice's role (not a
    /// superuser, as in production), and returns that role's conninfo for it.
    public static func makeDatabase() async throws -> String {
        let shared = try await shared.value
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let owner = PostgresIdentifier.quote(shared.cluster.configuration.roleName)
        try await shared.admin.execute("CREATE DATABASE \(PostgresIdentifier.quote(name)) OWNER \(owner)")
        return shared.cluster.connectionString(database: name)
    }

    /// Runs `sql` as the shared cluster's superuser on the database `conninfo` (from ``makeDatabase()``) names:
    /// for what Sluice's own role may not do (objects of other roles).
    public static func asSuperuser(on conninfo: String, _ sql: String) async throws {
        guard let database = conninfo.firstMatch(of: /dbname='([^']*)'/)?.1 else { throw TestClientError("no dbname in \(conninfo)") }
        let connection = try PostgresConnection(connectionString: try await cluster().superuserConnectionString(database: String(database)))
        defer { connection.close() }
        try connection.executeScript(sql)
    }

    /// Creates a pool on a fresh database (see ``makeDatabase()``).
    public static func makePool(
        configuration: PostgresConnectionPool.Configuration = .init()
    ) async throws -> PostgresConnectionPool {
        PostgresConnectionPool(connectionString: try await makeDatabase(), configuration: configuration)
    }

    /// Creates a new, short-pathed, world-traversable temporary directory under `/tmp`.
    public static func makeTemporaryDirectory(prefix: String = "sluice-test") throws -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let directory = String(cString: path)
        chmod(directory, 0o755)
        return directory
    }

    /// Runs `body` with a separate cluster in its own temporary directory, then stops the cluster and
    /// removes the directory, whether or not `body` throws.
    public static func withTemporaryCluster<T>(
        _ body: (EmbeddedPostgres) async throws -> T
    ) async throws -> T {
        let directory = try makeTemporaryDirectory(prefix: "sluice-pg")
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: directory, sharedBuffers: "32MB"))
        do {
            let value = try await body(cluster)
            try await cluster.stop()
            try? FileManager.default.removeItem(atPath: directory)
            return value
        } catch {
            try? await cluster.stop()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Runs `body` with a separate cluster that also listens on a loopback TCP port with `ssl = on`, serving
    /// `certificate` and `key`; stops and removes it afterwards. A port another process took meanwhile is
    /// replaced by another.
    public static func withTemporaryTLSCluster<T>(
        certificate: String, key: String, _ body: (EmbeddedPostgres, Int) async throws -> T
    ) async throws -> T {
        let directory = try makeTemporaryDirectory(prefix: "sluice-pg")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plain = EmbeddedPostgres(configuration: .init(dataDirectory: directory, sharedBuffers: "32MB"))
        try await plain.start()
        try await plain.stop()
        let server = SystemUser.isRoot ? SystemUser.lookup(EmbeddedPostgres.systemUser) : nil
        for (source, name) in [(certificate, "server.crt"), (key, "server.key")] {
            let target = plain.clusterDirectory + "/" + name
            try FileManager.default.copyItem(atPath: source, toPath: target)
            chmod(target, 0o600)
            if let server { chown(target, server.uid, server.gid) }
        }
        var attempts = 0
        while true {
            attempts += 1
            let port = try freePort()
            let cluster = EmbeddedPostgres(configuration: .init(
                dataDirectory: directory, port: port, sharedBuffers: "32MB",
                settings: ["listen_addresses": "127.0.0.1", "ssl": "on", "ssl_cert_file": "server.crt", "ssl_key_file": "server.key"]))
            do {
                try await cluster.start()
            } catch let error as PostgresError where attempts < 5 && (error.context ?? "").contains("could not bind") {
                continue
            }
            do {
                let value = try await body(cluster, port)
                try await cluster.stop()
                return value
            } catch {
                try? await cluster.stop()
                throw error
            }
        }
    }

    /// A loopback TCP port that was free a moment ago.
    public static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func stopAtExit() {
        guard let cluster = running.withLock({ $0 }) else { return }
        try? cluster.stop()
        try? FileManager.default.removeItem(atPath: cluster.configuration.dataDirectory)
    }
}
