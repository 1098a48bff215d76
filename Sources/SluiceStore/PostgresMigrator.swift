import Logging

/// Applies ``PostgresMigration``s to one schema, recording them in `<schema>.schema_migrations`.
///
/// Concurrent migrators (threads or processes) serialise on a session-level advisory lock derived from
/// the schema name, so each migration is applied exactly once. Each migration runs in its own
/// transaction with `search_path` set to the schema (then `public`), so unqualified names land in it.
public struct PostgresMigrator: Sendable {
    /// The schema the migrations belong to (created if missing).
    public let schema: String
    /// The migrations, in any order; they are applied by ascending version.
    public let migrations: [PostgresMigration]
    private let logger: Logger

    public init(schema: String, migrations: [PostgresMigration], logger: Logger = Logger(label: "sluice.store")) {
        self.schema = schema
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies every migration not yet recorded, in ascending version order; returns the versions applied.
    public func migrate(on connection: PostgresConnection) throws -> [Int] {
        let lockKey: [PostgresValue] = [.text("sluice.migrations:" + schema)]
        try connection.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", lockKey)
        defer {
            do {
                try connection.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lockKey)
            } catch {
                logger.warning("releasing the migration lock failed: \(error)")
            }
        }
        try connection.execute("CREATE SCHEMA IF NOT EXISTS \(PostgresIdentifier.quote(schema))")
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS \(table) (
                version int PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let done = try appliedVersions(on: connection)
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            do {
                try connection.withTransaction { connection in
                    try connection.execute("SET LOCAL search_path TO \(PostgresIdentifier.quote(schema)), public")
                    try connection.executeScript(migration.sql)
                    try connection.execute(
                        "INSERT INTO \(table) (version, name) VALUES ($1, $2)",
                        [.init(migration.version), .init(migration.name)])
                }
            } catch {
                throw PostgresError(
                    code: .migrationFailed,
                    message: "migration \(migration.version) (\(migration.name)) of schema \(schema) failed: \(error)",
                    sqlState: (error as? PostgresError)?.sqlState)
            }
            logger.info("applied migration \(migration.version) (\(migration.name)) to schema \(schema)")
            applied.append(migration.version)
        }
        return applied
    }

    /// Applies pending migrations on a pooled connection.
    public func migrate(using pool: PostgresConnectionPool) async throws -> [Int] {
        try await pool.withConnection { try self.migrate(on: $0) }
    }

    /// Whether every migration is recorded as applied (false if the migrations table does not exist yet).
    public func isUpToDate(on connection: PostgresConnection) throws -> Bool {
        let exists = try connection.query("SELECT to_regclass($1) IS NOT NULL AS present", [.text(table)])
        guard try exists.first?["present", as: Bool.self] == true else { return migrations.isEmpty }
        let done = try appliedVersions(on: connection)
        return migrations.allSatisfy { done.contains($0.version) }
    }

    /// Whether every migration is recorded as applied, checked on a pooled connection.
    public func isUpToDate(using pool: PostgresConnectionPool) async throws -> Bool {
        try await pool.withConnection { try self.isUpToDate(on: $0) }
    }

    private var table: String { PostgresIdentifier.qualified(schema, "schema_migrations") }

    private func appliedVersions(on connection: PostgresConnection) throws -> Set<Int> {
        Set(try connection.query("SELECT version FROM \(table)").compactMap { try $0["version", as: Int.self] })
    }
}
