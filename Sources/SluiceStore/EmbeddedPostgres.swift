import Foundation
import Logging

/// A private PostgreSQL cluster under `<dataDirectory>/postgres`, reachable only through a Unix socket.
///
/// `start()` initialises the cluster on first use (`initdb`), starts it unless it already runs (a running
/// cluster is reused), ensures the application database exists and returns its conninfo. When the
/// process runs as root, the server runs as the unprivileged system user `sluice-postgres`.
/// The synchronous methods block; the async overloads run them on a dedicated thread.
public struct EmbeddedPostgres: Sendable {
    /// Cluster options.
    public struct Configuration: Sendable {
        /// Directory that holds the cluster (`postgres/`), socket directory (`run/`) and log (`postgres.log`).
        public var dataDirectory: String
        /// Database created on start and named in the returned conninfo.
        public var databaseName: String
        /// Superuser created by `initdb` (trust authentication over the private socket).
        public var userName: String
        /// Port number; with no TCP listener it only names the socket file.
        public var port: Int
        /// Server `max_connections`.
        public var maxConnections: Int
        /// Server `shared_buffers`.
        public var sharedBuffers: String
        /// Upper bound on waiting for the server to start or stop.
        public var startTimeout: Duration
        /// Directory holding `initdb`/`pg_ctl`; found automatically when nil.
        public var binaryDirectory: String?
        /// Logger for cluster lifecycle events.
        public var logger: Logger

        public init(
            dataDirectory: String,
            databaseName: String = "sluice",
            userName: String = "sluice",
            port: Int = 5432,
            maxConnections: Int = 100,
            sharedBuffers: String = "128MB",
            startTimeout: Duration = .seconds(120),
            binaryDirectory: String? = nil,
            logger: Logger = Logger(label: "sluice.store")
        ) {
            self.dataDirectory = dataDirectory
            self.databaseName = databaseName
            self.userName = userName
            self.port = port
            self.maxConnections = maxConnections
            self.sharedBuffers = sharedBuffers
            self.startTimeout = startTimeout
            self.binaryDirectory = binaryDirectory
            self.logger = logger
        }
    }

    /// The unprivileged user the server runs as when this process is root.
    public static let systemUser = "sluice-postgres"

    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The cluster's data directory (`PGDATA`).
    public var clusterDirectory: String { dataDirectory + "/postgres" }

    /// The server log file.
    public var logFile: String { dataDirectory + "/postgres.log" }

    /// Directory of the Unix socket: `<dataDirectory>/run`, or `/tmp/sluice-pg-<hash>` when the socket
    /// path would exceed the platform's ~100 byte limit.
    public var socketDirectory: String {
        let preferred = dataDirectory + "/run"
        if (preferred + "/.s.PGSQL.\(configuration.port)").utf8.count <= 100 { return preferred }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, stable across runs
        for byte in preferred.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return "/tmp/sluice-pg-" + String(hash, radix: 16)
    }

    /// The conninfo string for `database` (default: the configured database).
    public func connectionString(database: String? = nil) -> String {
        func value(_ text: String) -> String {
            "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        return "host=\(value(socketDirectory)) port=\(configuration.port)"
            + " dbname=\(value(database ?? configuration.databaseName)) user=\(value(configuration.userName))"
    }

    /// Whether the server is running (`pg_ctl status`).
    public var isRunning: Bool {
        guard let binaries = try? binaryDirectory(),
            let outcome = try? run(binaries + "/pg_ctl", ["status", "-D", clusterDirectory])
        else { return false }
        return outcome.succeeded
    }

    /// Initialises (if needed) and starts (unless running) the cluster, ensures the database exists and
    /// returns its conninfo.
    @discardableResult
    public func start() throws -> String {
        let binaries = try binaryDirectory()
        let fileManager = FileManager.default
        let runAsUser = geteuid() == 0 ? Self.systemUser : nil
        if let runAsUser { try ensureSystemUser(runAsUser) }

        for directory in [dataDirectory, clusterDirectory, socketDirectory] {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        if !fileManager.fileExists(atPath: logFile) { _ = fileManager.createFile(atPath: logFile, contents: nil) }
        try fileManager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: clusterDirectory)
        if let runAsUser {
            // The server user must be able to traverse the data directory and own what it writes.
            try grantTraversal(to: runAsUser)
            let mode = (try fileManager.attributesOfItem(atPath: dataDirectory)[.posixPermissions] as? Int) ?? 0o700
            try fileManager.setAttributes([.posixPermissions: mode | 0o011], ofItemAtPath: dataDirectory)
            try Subprocess.check(
                "/bin/chown", ["-R", runAsUser, clusterDirectory, socketDirectory, logFile], what: "chown")
        }

        if !fileManager.fileExists(atPath: clusterDirectory + "/PG_VERSION") {
            configuration.logger.info("initialising PostgreSQL cluster at \(clusterDirectory)")
            try check(
                binaries + "/initdb",
                ["-D", clusterDirectory, "--auth=trust", "-U", configuration.userName, "--encoding=UTF8", "--locale=C"],
                what: "initdb")
        }

        if isRunning {
            configuration.logger.info("reusing running PostgreSQL cluster at \(clusterDirectory)")
        } else {
            let options = [
                "-c listen_addresses=''",
                "-c unix_socket_directories=" + Subprocess.shellQuote(socketDirectory),
                "-c port=\(configuration.port)",
                "-c max_connections=\(configuration.maxConnections)",
                "-c shared_buffers=" + Subprocess.shellQuote(configuration.sharedBuffers),
                "-c fsync=on",
            ].joined(separator: " ")
            configuration.logger.info("starting PostgreSQL cluster at \(clusterDirectory)")
            do {
                try check(
                    binaries + "/pg_ctl",
                    ["start", "-w", "-t", timeoutSeconds, "-D", clusterDirectory, "-l", logFile, "-o", options],
                    what: "pg_ctl start")
            } catch var error as PostgresError {
                error.context = [error.context, "server log:\n" + logTail()].compactMap { $0 }.joined(separator: "\n")
                throw error
            }
        }
        try ensureDatabase()
        return connectionString()
    }

    /// Stops the server (`pg_ctl stop -m fast -w`); does nothing if it is not running.
    public func stop() throws {
        guard isRunning else { return }
        configuration.logger.info("stopping PostgreSQL cluster at \(clusterDirectory)")
        try check(
            try binaryDirectory() + "/pg_ctl",
            ["stop", "-D", clusterDirectory, "-m", "fast", "-w", "-t", timeoutSeconds], what: "pg_ctl stop")
    }

    /// ``start()`` on a dedicated thread.
    @discardableResult
    public func start() async throws -> String {
        try await runOnDedicatedThread(name: "sluice.store.embedded") { try self.start() }
    }

    /// ``stop()`` on a dedicated thread.
    public func stop() async throws {
        try await runOnDedicatedThread(name: "sluice.store.embedded") { try self.stop() }
    }

    private var dataDirectory: String {
        let path = configuration.dataDirectory
        return path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    private var timeoutSeconds: String {
        String(max(1, Int(configuration.startTimeout.components.seconds)))
    }

    /// Creates the configured database unless it exists; tolerates a concurrent creator.
    private func ensureDatabase() throws {
        let connection = try PostgresConnection(
            connectionString: connectionString(database: "postgres"),
            configuration: .init(logger: configuration.logger))
        defer { connection.close() }
        let name = configuration.databaseName
        guard try connection.query("SELECT 1 FROM pg_database WHERE datname = $1", [.text(name)]).isEmpty else {
            return
        }
        do {
            try connection.execute("CREATE DATABASE \(PostgresIdentifier.quote(name))")
            configuration.logger.info("created database \(name)")
        } catch let error as PostgresError where error.sqlState == "42P04" || error.isUniqueViolation {
            // Another process created it between the check and the CREATE.
        }
    }

    /// `<dir>` of the newest `/usr/lib/postgresql/<version>/bin/initdb`, else of `initdb` on `PATH`.
    private func binaryDirectory() throws -> String {
        if let directory = configuration.binaryDirectory { return directory }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .sorted { (Double($0) ?? 0) > (Double($1) ?? 0) }
        if let version = versions.first(where: {
            FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/initdb")
        }) {
            return "\(root)/\(version)/bin"
        }
        if let initdb = Subprocess.which("initdb") {
            return (initdb as NSString).deletingLastPathComponent
        }
        throw PostgresError(
            code: .serverNotInstalled,
            message: "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or PATH;"
                + " install them with: apt-get install postgresql-15 (Debian)")
    }

    /// Lets `user` traverse every directory above the data directory that it cannot (a checkout in root's
    /// `0700` home, say): with an ACL entry granting that one user search permission and nothing else, so
    /// the directory stays closed to everyone else. Fails with the directory and the fix when it cannot.
    private func grantTraversal(to user: String) throws {
        var ancestors: [String] = []
        var path = (URL(fileURLWithPath: dataDirectory).standardizedFileURL.path as NSString).deletingLastPathComponent
        while path != "/" && !path.isEmpty {
            ancestors.append(path)
            path = (path as NSString).deletingLastPathComponent
        }
        for directory in ancestors.reversed() {
            var info = stat()
            guard stat(directory, &info) == 0, info.st_mode & S_IXOTH == 0 else { continue }
            if try Subprocess.run(runuser, ["-u", user, "--", "/usr/bin/test", "-x", directory]).succeeded { continue }
            let fix = "the PostgreSQL server runs as the system user \(user), which cannot enter \(directory)"
                + " (mode \(String(info.st_mode & 0o777, radix: 8))) on the way to the data directory \(dataDirectory)."
                + " Install the acl package (setfacl) so Sluice can grant \(user) just that,"
                + " or run `setfacl -m u:\(user):x \(directory)` (or `chmod o+x \(directory)`),"
                + " or choose a data directory it can reach (e.g. --data-dir /var/lib/sluice)"
            guard let setfacl = Subprocess.which("setfacl") else {
                throw PostgresError(code: .clusterFailed, message: fix)
            }
            // An existing mask is kept (-n): recomputing it could widen what other named entries allow.
            let hasMask = (try? Subprocess.run(Subprocess.which("getfacl") ?? "/usr/bin/getfacl", ["-c", directory]))?
                .output.contains("mask::") == true
            let outcome = try Subprocess.run(setfacl, (hasMask ? ["-n"] : []) + ["-m", "u:\(user):x", directory])
            guard outcome.succeeded,
                  try Subprocess.run(runuser, ["-u", user, "--", "/usr/bin/test", "-x", directory]).succeeded else {
                throw PostgresError(code: .clusterFailed, message: fix, context: outcome.output)
            }
            configuration.logger.info("granted \(user) search permission (only) on \(directory) with an ACL entry")
        }
    }

    private var runuser: String { Subprocess.which("runuser") ?? "/usr/sbin/runuser" }

    /// Creates the unprivileged system user the server runs as, if missing.
    private func ensureSystemUser(_ user: String) throws {
        if try Subprocess.run("/usr/bin/id", ["-u", user]).succeeded { return }
        let useradd = Subprocess.which("useradd") ?? "/usr/sbin/useradd"
        let outcome = try Subprocess.run(
            useradd, ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
        // A concurrent creator makes useradd fail; only the user's existence matters.
        let exists = try outcome.succeeded || Subprocess.run("/usr/bin/id", ["-u", user]).succeeded
        guard exists else {
            throw PostgresError(
                code: .clusterFailed, message: "could not create system user \(user)", context: outcome.output)
        }
    }

    /// Runs a PostgreSQL tool, as the system user when this process is root.
    private func run(_ executable: String, _ arguments: [String]) throws -> Subprocess.Outcome {
        let (path, fullArguments) = command(executable, arguments)
        return try Subprocess.run(path, fullArguments, currentDirectory: dataDirectory)
    }

    private func check(_ executable: String, _ arguments: [String], what: String) throws {
        let (path, fullArguments) = command(executable, arguments)
        try Subprocess.check(path, fullArguments, currentDirectory: dataDirectory, what: what)
    }

    private func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard geteuid() == 0 else { return (executable, arguments) }
        return (runuser, ["-u", Self.systemUser, "--", executable] + arguments)
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n")
    }
}
