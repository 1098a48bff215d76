import Foundation
import SluiceStore
import SluiceSystem
import SluiceTestSupport
import Testing

/// Nobody but Sluice enters its embedded cluster, and Sluice itself enters it as a role that cannot reach
/// past its database.
@Suite struct EmbeddedPostgresAccessTests {
    @Test func passwordsPrivateSocketAndAServiceRoleThatIsNoSuperuser() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            let conninfo = try await cluster.start()
            #expect(!conninfo.contains("password"))

            // Files: the password file and its directory are the service user's alone; the socket directory is
            // the server's alone.
            #expect(fileMode(cluster.passwordFile) == 0o600)
            #expect(fileMode((cluster.passwordFile as NSString).deletingLastPathComponent) == 0o700)
            #expect(fileMode(cluster.socketDirectory) == 0o700)
            let hba = try String(contentsOfFile: cluster.clusterDirectory + "/pg_hba.conf", encoding: .utf8)
            #expect(!hba.contains("trust") && hba.contains("scram-sha-256"))

            // No password, no entry: the same conninfo without the password file is refused.
            let withoutPassword = conninfo.replacingOccurrences(of: #" passfile='[^']*'"#, with: "", options: .regularExpression)
                + " passfile=/dev/null"
            #expect(throws: PostgresError.self) { try PostgresConnection(connectionString: withoutPassword) }

            let pool = PostgresConnectionPool(connectionString: conninfo)
            defer { Task { await pool.close() } }
            let row = try #require(try await pool.query("""
                SELECT current_user AS role, r.rolsuper AS superuser, r.rolcreaterole AS createrole,
                       current_setting('unix_socket_permissions') AS socket, current_setting('password_encryption') AS hash,
                       pg_get_userbyid(d.datdba) AS owner
                FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()
                """).first)
            #expect(try row["role", as: String.self] == "sluice_service")
            #expect(try row["superuser", as: Bool.self] == false)
            #expect(try row["createrole", as: Bool.self] == false)
            #expect(try row["socket", as: String.self] == "0700")
            #expect(try row["hash", as: String.self] == "scram-sha-256")
            #expect(try row["owner", as: String.self] == "sluice_service")

            // It owns its database, so tenant schemas can be created; the server's programs and files are out of reach.
            try await pool.execute("CREATE SCHEMA tenant_x")
            try await pool.execute("CREATE TABLE tenant_x.rows (id int PRIMARY KEY)")
            for forbidden in ["COPY (SELECT 1) TO PROGRAM 'id > /tmp/sluice-pwned'", "SELECT pg_read_file('postgresql.conf')",
                              "COPY tenant_x.rows FROM '/etc/passwd'", "CREATE ROLE intruder LOGIN SUPERUSER",
                              "ALTER ROLE sluice_service SUPERUSER"] {
                let error = await #expect(throws: PostgresError.self) { try await pool.execute(forbidden) }
                #expect(error?.sqlState == "42501", "\(forbidden): \(String(describing: error))")
            }
            #expect(!FileManager.default.fileExists(atPath: "/tmp/sluice-pwned"))
        }
    }

    /// Another local account can neither reach the socket nor read the password file.
    @Test(.enabled(if: SystemUser.isRoot, "creating a local user needs root (CI runs as root)"))
    func anotherLocalUserCannotConnect() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            let conninfo = try await cluster.start()
            let intruder = try SystemUser.ensure("sluice-test-intruder")
            let psql = try #require(Subprocess.which("psql"))
            for (role, passfile) in [("sluice_service", cluster.passwordFile), ("postgres", cluster.passwordFile), ("postgres", "/dev/null")] {
                let attempt = try Subprocess.run(SystemUser.runuser, [
                    "-u", intruder.name, "--", psql, "-X", "-w", "-c", "SELECT 1",
                    "host=\(cluster.socketDirectory) port=5432 dbname=sluice user=\(role) passfile=\(passfile)",
                ])
                #expect(!attempt.succeeded, "\(role) got in: \(attempt.output)")
                #expect(attempt.output.contains("Permission denied"), "\(attempt.output)")
            }
            let read = try Subprocess.run(SystemUser.runuser, ["-u", intruder.name, "--", "/bin/cat", cluster.passwordFile])
            #expect(!read.succeeded && !read.output.contains("sluice_service:"))
            // The socket itself, listed by root, is the server user's and closed to others.
            #expect(fileMode(cluster.socketDirectory + "/.s.PGSQL.5432") == 0o700)
            // Sluice itself still gets in.
            #expect(try PostgresConnection(connectionString: conninfo).query("SELECT 1 AS one").count == 1)
        }
    }

    /// A cluster initialised by an earlier version (trust authentication, Sluice working as its superuser) is
    /// locked down at start and keeps its data.
    @Test func aClusterOfAnEarlierVersionIsUpgradedInPlace() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            try LegacyCluster.create(like: cluster)
            // The earlier version's data: a schema, a table with an identity column, a partitioned table.
            let legacy = try PostgresConnection(connectionString: LegacyCluster.trustConnectionString(cluster))
            try legacy.executeScript("""
                CREATE SCHEMA sluice;
                CREATE TABLE sluice.reports (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL) PARTITION BY RANGE (at);
                CREATE TABLE sluice.reports_default PARTITION OF sluice.reports DEFAULT;
                CREATE SCHEMA "tenant-a";
                CREATE TABLE "tenant-a".readings (id int PRIMARY KEY, value text);
                CREATE TABLE "tenant-a".counters (id serial PRIMARY KEY);
                CREATE TYPE sluice.span AS RANGE (subtype = int4);
                INSERT INTO "tenant-a".readings VALUES (1, 'kept'), (2, 'also kept');
                INSERT INTO sluice.reports (at) VALUES ('2026-01-01');
                """)
            legacy.close()
            try await cluster.stop()

            let conninfo = try await cluster.start()
            let pool = PostgresConnectionPool(connectionString: conninfo)
            defer { Task { await pool.close() } }
            let kept = try await pool.query(#"SELECT value FROM "tenant-a".readings ORDER BY id"#).map { try $0["value", as: String.self] }
            #expect(kept == ["kept", "also kept"])
            // Everything it owned is now the service role's: it can write, alter and drop it.
            let foreign = try await pool.query("""
                SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('sluice', 'tenant-a') AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
                """).first?["n", as: Int.self]
            #expect(foreign == 0)
            try await pool.execute("INSERT INTO sluice.reports (at) VALUES ('2026-01-02')")
            try await pool.execute(#"ALTER TABLE "tenant-a".readings ADD COLUMN note text"#)
            try await pool.execute(#"DROP SCHEMA "tenant-a" CASCADE"#)
            #expect(try await pool.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").first?["rolsuper", as: Bool.self] == false)

            // The old way in is closed: trust is gone, and the old superuser needs its new password.
            #expect(throws: PostgresError.self) { try PostgresConnection(connectionString: LegacyCluster.trustConnectionString(cluster)) }
            let superuser = try cluster.superuserConnectionString()
            #expect(superuser.contains("user='sluice'"))
            #expect(try PostgresConnection(connectionString: superuser).query("SELECT 1 AS one").count == 1)

            // A second start finds it locked down and changes nothing.
            try await cluster.stop()
            #expect(try await cluster.start() == conninfo)
        }
    }
}


/// A cluster set up the way versions before the lockdown did it: `initdb --auth=trust -U sluice`, started with
/// the socket directory's default permissions.
private enum LegacyCluster {
    static func create(like cluster: EmbeddedPostgres) throws {
        let binaries = try #require(try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")
            .map { "/usr/lib/postgresql/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") })
        let asServer = SystemUser.isRoot ? [SystemUser.runuser, "-u", EmbeddedPostgres.systemUser, "--"] : []
        func run(_ arguments: [String]) throws {
            let command = asServer + arguments
            try Subprocess.check(command[0], Array(command.dropFirst()), what: arguments[0])
        }
        for directory in [cluster.clusterDirectory, cluster.socketDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            #expect(chmod(directory, 0o755) == 0)
        }
        chmod(cluster.clusterDirectory, 0o700)
        if SystemUser.isRoot {
            let server = try SystemUser.ensure(EmbeddedPostgres.systemUser)
            try server.grantTraversal(toReach: cluster.clusterDirectory)
            try Subprocess.check("/bin/chown", ["-R", server.name, cluster.clusterDirectory, cluster.socketDirectory], what: "chown")
            _ = FileManager.default.createFile(atPath: cluster.logFile, contents: nil)
            try Subprocess.check("/bin/chown", [server.name, cluster.logFile], what: "chown")
        }
        try run([binaries + "/initdb", "-D", cluster.clusterDirectory, "--auth=trust", "-U", "sluice", "--encoding=UTF8", "--locale=C"])
        try run([binaries + "/pg_ctl", "start", "-w", "-D", cluster.clusterDirectory, "-l", cluster.logFile, "-o",
                 "-c listen_addresses='' -c unix_socket_directories='\(cluster.socketDirectory)' -c port=5432"])
        let admin = try PostgresConnection(connectionString: "host='\(cluster.socketDirectory)' port=5432 dbname=postgres user=sluice")
        try admin.execute("CREATE DATABASE sluice")
        admin.close()
    }

    static func trustConnectionString(_ cluster: EmbeddedPostgres) -> String {
        "host='\(cluster.socketDirectory)' port=5432 dbname=sluice user=sluice passfile=/dev/null"
    }
}
