import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct MigrationTests {
    let migrations = [
        PostgresMigration(version: 2, name: "add index", sql: "CREATE INDEX tenants_name ON tenants (name)"),
        PostgresMigration(
            version: 1, name: "create tenants",
            sql: "CREATE TABLE tenants (id bigserial PRIMARY KEY, name text NOT NULL); INSERT INTO tenants (name) VALUES ('seed')"),
        PostgresMigration(version: 3, name: "create events", sql: "CREATE TABLE events (id bigint)"),
    ]

    @Test func appliesOnceAndNeverAgain() async throws {
        let pool = try await TestPostgres.makePool()
        let migrator = PostgresMigrator(schema: "platform", migrations: migrations)
        #expect(try await migrator.isUpToDate(using: pool) == false)
        #expect(try await migrator.migrate(using: pool) == [1, 2, 3])
        #expect(try await migrator.migrate(using: pool) == [])
        #expect(try await migrator.isUpToDate(using: pool))

        let later = PostgresMigrator(
            schema: "platform", migrations: migrations + [PostgresMigration(version: 4, name: "x", sql: "SELECT 1")])
        #expect(try await later.isUpToDate(using: pool) == false)
        #expect(try await later.migrate(using: pool) == [4])

        let seeds = try await pool.query("SELECT count(*) AS n FROM platform.tenants").first?["n", as: Int.self]
        #expect(seeds == 1)
        let recorded = try await pool.query(
            "SELECT version, name FROM platform.schema_migrations ORDER BY version"
        ).map { try $0["version", as: Int.self] }
        #expect(recorded == [1, 2, 3, 4])
        await pool.close()
    }

    @Test func failedMigrationIsNotRecorded() async throws {
        let pool = try await TestPostgres.makePool()
        let migrator = PostgresMigrator(
            schema: "broken",
            migrations: [
                PostgresMigration(version: 1, name: "ok", sql: "CREATE TABLE a (id int)"),
                PostgresMigration(version: 2, name: "bad", sql: "CREATE TABLE b (id int); SELECT * FROM nope"),
            ])
        let error = await #expect(throws: PostgresError.self) { try await migrator.migrate(using: pool) }
        #expect(error?.code == .migrationFailed)
        #expect(error?.sqlState == "42P01")
        let recorded = try await pool.query("SELECT version FROM broken.schema_migrations").map {
            try $0["version", as: Int.self]
        }
        #expect(recorded == [1])
        let tableB = try await pool.query("SELECT to_regclass('broken.b') IS NULL AS missing").first
        #expect(try tableB?["missing", as: Bool.self] == true)
        await pool.close()
    }

    @Test func concurrentMigratorsApplyEachMigrationExactlyOnce() async throws {
        let conninfo = try await TestPostgres.makeDatabase()
        let pools = (0..<4).map { _ in PostgresConnectionPool(connectionString: conninfo) }
        let migrator = PostgresMigrator(schema: "raced", migrations: migrations)
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for pool in pools { group.addTask { try await migrator.migrate(using: pool) } }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(applied.sorted() == [1, 2, 3])
        let recorded = try await pools[0].query(
            "SELECT version FROM raced.schema_migrations ORDER BY version"
        ).map { try $0["version", as: Int.self] }
        #expect(recorded == [1, 2, 3])
        let seeds = try await pools[0].query("SELECT count(*) AS n FROM raced.tenants").first?["n", as: Int.self]
        #expect(seeds == 1)
        for pool in pools { await pool.close() }
    }
}
