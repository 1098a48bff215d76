import Foundation
import Logging
import SluiceCommon
import SluiceSystem

/// A private PostgreSQL cluster under `<dataDirectory>/postgres` that nobody else can enter.
///
/// `start()` initialises the cluster on first use (`initdb`), starts it unless it already runs (a running
/// cluster is reused), locks it down and returns the conninfo of Sluice's own role:
/// - the server listens on a Unix socket in a `0700` directory owned by the server's user
///   (`unix_socket_permissions = 0700`), and on no TCP address unless a setting asks for one;
/// - every connection authenticates with SCRAM-SHA-256 (`pg_hba.conf` is Sluice's own), with passwords
///   generated at initialisation and kept in `DATA_DIR/credentials/postgres.pgpass` (`0600`);
/// - Sluice works as ``Configuration/roleName``, not a superuser: it owns the database and its schemas (so it
///   creates tenant schemas), but cannot run `COPY … TO PROGRAM` or read the server's files.
/// A cluster of an earlier version (trust authentication, Sluice connected as its superuser) is upgraded in
/// place. When the process runs as root, the server runs as the unprivileged system user `sluice-postgres`.
/// The synchronous methods block; the async overloads run them on a dedicated thread.
public struct EmbeddedPostgres: Sendable {
    /// Cluster options.
    public struct Configuration: Sendable {
        /// Directory that holds the cluster (`postgres/`), socket directory (`run/`), log (`postgres.log`) and
        /// the password file (`credentials/`).
        public var dataDirectory: String
        /// Database created on start and named in the returned conninfo.
        public var databaseName: String
        /// The role Sluice connects as: owns the database, is not a superuser.
        public var roleName: String
        /// The superuser `initdb` creates in a new cluster (used only to set the cluster up).
        public var superuserName: String
        /// Port number; with no TCP listener it only names the socket file.
        public var port: Int
        /// Server `max_connections`.
        public var maxConnections: Int
        /// Server `shared_buffers`.
        public var sharedBuffers: String
        /// Server `max_wal_size`: WAL written between automatic checkpoints. Ingestion writes WAL fast; at
        /// PostgreSQL's 1GB a checkpoint (and, after it, a full-page image of every page touched) came every few
        /// seconds under a sustained stream, stalling commits.
        public var maxWALSize: String
        /// Further server settings (`ssl`, `listen_addresses`, …), applied after Sluice's own.
        public var settings: [String: String]
        /// Upper bound on waiting for the server to start or stop.
        public var startTimeout: Duration
        /// Directory holding `initdb`/`pg_ctl`; found automatically when nil.
        public var binaryDirectory: String?
        /// Logger for cluster lifecycle events.
        public var logger: Logger

        public init(
            dataDirectory: String,
            databaseName: String = "sluice",
            roleName: String = "sluice_service",
            superuserName: String = "postgres",
            port: Int = 5432,
            maxConnections: Int = 100,
            sharedBuffers: String = "128MB",
            maxWALSize: String = "4GB",
            settings: [String: String] = [:],
            startTimeout: Duration = .seconds(120),
            binaryDirectory: String? = nil,
            logger: Logger = Logger(label: "sluice.store")
        ) {
            self.dataDirectory = dataDirectory
            self.databaseName = databaseName
            self.roleName = roleName
            self.superuserName = superuserName
            self.port = port
            self.maxConnections = maxConnections
            self.sharedBuffers = sharedBuffers
            self.maxWALSize = maxWALSize
            self.settings = settings
            self.startTimeout = startTimeout
            self.binaryDirectory = binaryDirectory
            self.logger = logger
        }
    }

    /// The unprivileged user the server runs as when this process is root.
    public static let systemUser = "sluice-postgres"
    /// The superuser of clusters initialised by earlier versions, which connected as it over trust.
    static let legacySuperuser = "sluice"

    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The cluster's data directory (`PGDATA`).
    public var clusterDirectory: String { dataDirectory + "/postgres" }

    /// The server log file.
    public var logFile: String { dataDirectory + "/postgres.log" }

    /// The password file holding both roles' passwords (`0600`).
    public var passwordFile: String { secrets.path(ClusterCredentials.fileName) }

    var secrets: SecretFiles { SecretFiles(dataDirectory: dataDirectory) }

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

    /// The conninfo of Sluice's role for `database` (default: the configured database). It names the password
    /// file, never a password.
    public func connectionString(database: String? = nil) -> String {
        connectionString(database: database, user: configuration.roleName)
    }

    /// The conninfo of the cluster's superuser (from the password file) for `database`: for setting up
    /// clusters and tests, never for Sluice's own work.
    public func superuserConnectionString(database: String = "postgres") throws -> String {
        connectionString(database: database, user: try storedCredentials().superuser.name)
    }

    func connectionString(database: String?, user: String) -> String {
        func value(_ text: String) -> String {
            "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        return "host=\(value(socketDirectory)) port=\(configuration.port)"
            + " dbname=\(value(database ?? configuration.databaseName)) user=\(value(user)) passfile=\(value(passwordFile))"
    }

    /// Whether the server is running (`pg_ctl status`).
    public var isRunning: Bool {
        guard let binaries = try? binaryDirectory(),
            let outcome = try? run(binaries + "/pg_ctl", ["status", "-D", clusterDirectory])
        else { return false }
        return outcome.succeeded
    }

    /// Initialises (if needed), starts (unless running) and locks down the cluster, ensures the database
    /// exists and returns the conninfo of Sluice's role.
    @discardableResult
    public func start() throws -> String {
        let binaries = try binaryDirectory()
        let serverUser = SystemUser.isRoot ? try cluster { try SystemUser.ensure(Self.systemUser) } : nil
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        // Processes starting on one data directory (a `serve` and a `sluice ingest`) take turns: two first starts
        // would each generate passwords.
        let setupLock = open(dataDirectory + "/postgres.setup.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard setupLock >= 0 else { throw ioFailure("open", dataDirectory + "/postgres.setup.lock") }
        defer { close(setupLock) }
        while flock(setupLock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ioFailure("lock", dataDirectory + "/postgres.setup.lock") }
        }
        try prepareDirectories(for: serverUser)
        let initialised = FileManager.default.fileExists(atPath: clusterDirectory + "/PG_VERSION")
        let credentials = try credentials(initialised: initialised)
        if !initialised { try initialise(binaries: binaries, credentials: credentials, serverUser: serverUser) }

        if isRunning {
            configuration.logger.info("reusing running PostgreSQL cluster at \(clusterDirectory)")
        } else {
            configuration.logger.info("starting PostgreSQL cluster at \(clusterDirectory)")
            do {
                try check(
                    binaries + "/pg_ctl",
                    ["start", "-w", "-t", timeoutSeconds, "-D", clusterDirectory, "-l", logFile, "-o", serverOptions],
                    what: "pg_ctl start")
            } catch var error as PostgresError {
                error.context = [error.context, "server log:\n" + logTail()].compactMap { $0 }.joined(separator: "\n")
                throw error
            }
        }
        try lockDown(credentials: credentials, serverUser: serverUser)
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

    var dataDirectory: String {
        let path = configuration.dataDirectory
        return path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    private var timeoutSeconds: String {
        String(max(1, Int(configuration.startTimeout.components.seconds)))
    }

    /// The server's settings as `pg_ctl -o` passes them (through a shell): private socket, no TCP address,
    /// SCRAM passwords, then the configured ones.
    private var serverOptions: String {
        var settings: [(String, String)] = [
            ("listen_addresses", ""), ("unix_socket_directories", socketDirectory),
            ("unix_socket_permissions", "0700"), ("port", "\(configuration.port)"),
            ("max_connections", "\(configuration.maxConnections)"), ("shared_buffers", configuration.sharedBuffers),
            ("password_encryption", "scram-sha-256"), ("fsync", "on"), ("max_wal_size", configuration.maxWALSize),
        ]
        settings += configuration.settings.sorted { $0.key < $1.key }
        return settings.map { "-c " + Subprocess.shellQuote("\($0)=\($1)") }.joined(separator: " ")
    }

    /// Creates the data, cluster and socket directories, the latter two `0700` and owned by the server's user.
    private func prepareDirectories(for serverUser: SystemUser?) throws {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: clusterDirectory, withIntermediateDirectories: true)
        // The socket directory may be under /tmp (long data directory paths), under a predictable name: one that
        // someone else made first is refused before anything in it is touched.
        var existing = stat()
        if lstat(socketDirectory, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFDIR, [serverUser?.uid, geteuid()].contains(existing.st_uid) else {
                throw PostgresError(code: .clusterFailed, message: """
                    the socket directory \(socketDirectory) belongs to uid \(existing.st_uid), not to Sluice or its server: \
                    remove it, or choose a shorter --data-dir
                    """)
            }
        } else if mkdir(socketDirectory, 0o700) != 0 {
            throw ioFailure("create", socketDirectory)
        }
        // Created `0600`, and closed again if an earlier version left it open (its lines may hold tenants' values).
        if !fileManager.fileExists(atPath: logFile) { _ = fileManager.createFile(atPath: logFile, contents: nil) }
        for (path, mode) in [(clusterDirectory, mode_t(0o700)), (socketDirectory, 0o700), (logFile, 0o600)] {
            guard chmod(path, mode) == 0 else { throw ioFailure("chmod", path) }
        }
        if let serverUser {
            // The server user must be able to traverse the data directory and own what it writes.
            let granted = try cluster { try serverUser.grantTraversal(toReach: dataDirectory) }
            for directory in granted {
                configuration.logger.info("granted \(serverUser.name) search permission (only) on \(directory) with an ACL entry")
            }
            let mode = (try fileManager.attributesOfItem(atPath: dataDirectory)[.posixPermissions] as? Int) ?? 0o700
            try fileManager.setAttributes([.posixPermissions: mode | 0o011], ofItemAtPath: dataDirectory)
            try cluster {
                try Subprocess.check("/bin/chown", ["-R", serverUser.name, clusterDirectory, socketDirectory, logFile], what: "chown")
            }
        }
        // A socket directory under /tmp (long data directory paths) could have been made by someone else first.
        var info = stat()
        let owner = serverUser?.uid ?? geteuid()
        guard lstat(socketDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == owner,
              info.st_mode & 0o077 == 0 else {
            throw PostgresError(code: .clusterFailed, message: """
                the socket directory \(socketDirectory) is not a private directory of uid \(owner) (mode 0700, found \
                uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8))): remove it, or choose a shorter --data-dir
                """)
        }
    }

    /// `initdb` with SCRAM authentication and the superuser's generated password (passed in a `0600` file in
    /// the server's private socket directory, removed at once).
    private func initialise(binaries: String, credentials: ClusterCredentials, serverUser: SystemUser?) throws {
        configuration.logger.info("initialising PostgreSQL cluster at \(clusterDirectory)")
        let passwordFile = socketDirectory + "/.initdb-password"
        defer { unlink(passwordFile) }
        try cluster {
            try SecretFiles(directory: socketDirectory).write(".initdb-password", credentials.superuser.password)
            if let serverUser { try Subprocess.check("/bin/chown", [serverUser.name, passwordFile], what: "chown") }
        }
        try check(binaries + "/initdb", [
            "-D", clusterDirectory, "-U", credentials.superuser.name, "--pwfile", passwordFile,
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
        ], what: "initdb")
        try writeHostBasedAuthentication(serverUser: serverUser)
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

    /// Runs a PostgreSQL tool, as the system user when this process is root.
    private func run(_ executable: String, _ arguments: [String]) throws -> Subprocess.Outcome {
        let (path, fullArguments) = command(executable, arguments)
        return try cluster { try Subprocess.run(path, fullArguments, currentDirectory: dataDirectory) }
    }

    private func check(_ executable: String, _ arguments: [String], what: String) throws {
        let (path, fullArguments) = command(executable, arguments)
        try cluster { try Subprocess.check(path, fullArguments, currentDirectory: dataDirectory, what: what) }
    }

    private func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard SystemUser.isRoot else { return (executable, arguments) }
        return (SystemUser.runuser, ["-u", Self.systemUser, "--", executable] + arguments)
    }

    /// Runs an operating-system step, reporting its failure as `cluster_failed`.
    @discardableResult
    func cluster<T>(_ step: () throws -> T) throws -> T {
        do {
            return try step()
        } catch let error as SystemError {
            throw PostgresError(code: .clusterFailed, message: error.message)
        }
    }

    func ioFailure(_ step: String, _ path: String) -> PostgresError {
        PostgresError(code: .clusterFailed, message: "cannot \(step) \(path): \(String(cString: strerror(errno)))")
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n")
    }
}
