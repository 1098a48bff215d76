import Foundation
import SluiceSystem

/// Who may enter an embedded cluster, and as what: passwords, `pg_hba.conf`, Sluice's role and what it owns.
extension EmbeddedPostgres {
    /// The cluster's `pg_hba.conf`, written at every start: a password (SCRAM-SHA-256) for every connection,
    /// over the private socket or, when a TCP address is configured, TLS on loopback; nothing else.
    static let hostBasedAuthentication = """
        # Written by Sluice at every start; changes are overwritten. Every connection authenticates with a
        # password (SCRAM-SHA-256): over the private socket directory, or over TLS on loopback when the
        # cluster is configured to listen on it. Passwords: DATA_DIR/credentials/postgres.pgpass.
        local    all  all                scram-sha-256
        hostssl  all  all  127.0.0.1/32  scram-sha-256
        hostssl  all  all  ::1/128       scram-sha-256

        """

    /// The stored credentials, or fresh ones (written before they are used) for a new cluster or one of an
    /// earlier version, whose superuser was ``legacySuperuser``.
    func credentials(initialised: Bool) throws -> ClusterCredentials {
        if FileManager.default.fileExists(atPath: passwordFile) { return try storedCredentials() }
        if initialised && isLockedDown {
            throw PostgresError(code: .clusterFailed, message: """
                the password file \(passwordFile) of the embedded PostgreSQL cluster is missing: restore it from a \
                backup of the data directory (the cluster accepts no connection without it)
                """)
        }
        let fresh = ClusterCredentials.generate(superuser: initialised ? Self.legacySuperuser : configuration.superuserName,
                                                service: configuration.roleName)
        try cluster { try secrets.write(ClusterCredentials.fileName, fresh.pgpass) }
        return fresh
    }

    /// The credentials in ``passwordFile``.
    func storedCredentials() throws -> ClusterCredentials {
        guard let text = secrets.read(ClusterCredentials.fileName) else {
            throw PostgresError(code: .clusterFailed, message: "cannot read the password file \(passwordFile)")
        }
        guard let credentials = ClusterCredentials(pgpass: text), credentials.service.name == configuration.roleName else {
            throw PostgresError(code: .clusterFailed, message: """
                the password file \(passwordFile) is not the one Sluice wrote (two lines, the superuser's and \
                \(configuration.roleName)'s)
                """)
        }
        return credentials
    }

    private var hostBasedAuthenticationFile: String { clusterDirectory + "/pg_hba.conf" }

    /// Whether the cluster's `pg_hba.conf` is Sluice's (a cluster of an earlier version trusts every local user).
    var isLockedDown: Bool {
        (try? String(contentsOfFile: hostBasedAuthenticationFile, encoding: .utf8)) == Self.hostBasedAuthentication
    }

    /// Makes the running cluster Sluice's alone: the service role exists with its password, owns the database and
    /// every object in it, and `pg_hba.conf` asks every connection for a password. A cluster of an earlier
    /// version gets its superuser's password first, over its old trust configuration; the new `pg_hba.conf`
    /// is written last, so an upgrade interrupted at any point is simply done again at the next start.
    func lockDown(credentials: ClusterCredentials, serverUser: SystemUser?) throws {
        let upgrading = !isLockedDown
        if upgrading {
            configuration.logger.notice("locking down the embedded PostgreSQL cluster: passwords for every connection, a role of its own for Sluice",
                                        metadata: ["directory": "\(clusterDirectory)"])
        }
        let admin = try PostgresConnection(
            connectionString: connectionString(database: "postgres", user: credentials.superuser.name),
            configuration: .init(logger: configuration.logger))
        defer { admin.close() }
        if upgrading { try setPassword(of: credentials.superuser, on: admin) }
        try ensureServiceRole(credentials.service, setPassword: upgrading, on: admin)
        try ensureDatabase(owner: credentials.service.name, on: admin)
        let database = try PostgresConnection(
            connectionString: connectionString(database: configuration.databaseName, user: credentials.superuser.name),
            configuration: .init(logger: configuration.logger))
        defer { database.close() }
        try transferOwnership(to: credentials.service.name, on: database)
        if upgrading { try writeHostBasedAuthentication(serverUser: serverUser) }
        // Always: a start interrupted between writing the file and this left a running server on the old one.
        try admin.execute("SELECT pg_reload_conf()")
    }

    /// Writes Sluice's `pg_hba.conf` (``hostBasedAuthentication``), the server user's alone.
    func writeHostBasedAuthentication(serverUser: SystemUser?) throws {
        let path = hostBasedAuthenticationFile
        do {
            try Self.hostBasedAuthentication.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw PostgresError(code: .clusterFailed, message: "cannot write \(path): \(error.localizedDescription)")
        }
        guard chmod(path, 0o600) == 0 else { throw ioFailure("chmod", path) }
        if let serverUser, chown(path, serverUser.uid, serverUser.gid) != 0 { throw ioFailure("chown", path) }
    }

    /// `ALTER ROLE … PASSWORD` with the SCRAM verifier computed here: the password itself never reaches the
    /// server, a statement or a log.
    private func setPassword(of role: ClusterCredentials.Role, on connection: PostgresConnection) throws {
        try connection.executeFormatted("ALTER ROLE %I WITH LOGIN PASSWORD %L", role.name,
                                        try connection.encryptedPassword(role.password, role: role.name))
    }

    /// Creates Sluice's role (a login, nothing more) or takes back any privilege it gained.
    private func ensureServiceRole(_ role: ClusterCredentials.Role, setPassword: Bool, on connection: PostgresConnection) throws {
        let exists = try !connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [.text(role.name)]).isEmpty
        if exists {
            try connection.executeFormatted(
                "ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS", role.name)
            if setPassword { try self.setPassword(of: role, on: connection) }
        } else {
            try connection.executeFormatted(
                "CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L",
                role.name, try connection.encryptedPassword(role.password, role: role.name))
            configuration.logger.info("created role \(role.name)")
        }
    }

    /// Creates the configured database owned by `owner`, or hands it over; tolerates a concurrent creator.
    private func ensureDatabase(owner: String, on connection: PostgresConnection) throws {
        let name = configuration.databaseName
        let current = try connection.query("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
                                           [.text(name)]).first
        if let current {
            if try current.decode(String.self, "owner") != owner {
                try connection.executeFormatted("ALTER DATABASE %I OWNER TO %I", name, owner)
            }
            return
        }
        do {
            try connection.executeFormatted("CREATE DATABASE %I OWNER %I", name, owner)
            configuration.logger.info("created database \(name)")
        } catch let error as PostgresError where error.sqlState == "42P04" || error.isUniqueViolation {
            // Another process created it between the check and the CREATE.
        }
    }

    /// Gives `owner` every schema (but `public`, owned by the database's owner) and every relation, routine,
    /// enum and domain outside PostgreSQL's own schemas that another role owns and no extension does: what an
    /// earlier version created as the superuser. Idempotent; one statement, so all or nothing.
    private func transferOwnership(to owner: String, on connection: PostgresConnection) throws {
        try connection.query("SELECT set_config('sluice.new_owner', $1, false)", [.text(owner)])
        try connection.executeScript("""
            DO $transfer$
            DECLARE
                owner name := current_setting('sluice.new_owner');
                owner_id oid := (SELECT oid FROM pg_roles WHERE rolname = current_setting('sluice.new_owner'));
                item record;
            BEGIN
                FOR item IN SELECT nspname FROM pg_namespace WHERE nspowner <> owner_id
                        AND nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
                        AND NOT EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_namespace'::regclass AND objid = pg_namespace.oid AND deptype = 'e') LOOP
                    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', item.nspname, owner);
                END LOOP;
                -- Tables first: their indexes, row types and identity sequences follow them.
                FOR item IN SELECT c.oid::regclass AS relation, c.relkind FROM pg_class c
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.relowner <> owner_id AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                          AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                          AND NOT EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_class'::regclass AND objid = c.oid AND deptype = 'e')
                        ORDER BY c.relkind = 'S' LOOP
                    IF (SELECT relowner FROM pg_class WHERE oid = item.relation) <> owner_id THEN
                        EXECUTE format('ALTER %s %s OWNER TO %I', CASE item.relkind WHEN 'S' THEN 'SEQUENCE'
                            WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                            ELSE 'TABLE' END, item.relation, owner);
                    END IF;
                END LOOP;
                FOR item IN SELECT p.oid::regprocedure AS routine FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE p.proowner <> owner_id AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                          AND NOT EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_proc'::regclass AND objid = p.oid AND deptype = 'e') LOOP
                    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', item.routine, owner);
                END LOOP;
                FOR item IN SELECT t.oid::regtype AS type FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                        WHERE t.typowner <> owner_id AND t.typtype IN ('e', 'd') AND t.typelem = 0
                          AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                          AND NOT EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_type'::regclass AND objid = t.oid AND deptype = 'e') LOOP
                    EXECUTE format('ALTER TYPE %s OWNER TO %I', item.type, owner);
                END LOOP;
            END
            $transfer$
            """)
    }
}
