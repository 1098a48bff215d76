import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct EmbeddedPostgresTests {
    @Test func restartKeepsDataAndReusesRunningCluster() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            let conninfo = try await cluster.start()
            #expect(cluster.isRunning)
            #expect(FileManager.default.fileExists(atPath: cluster.clusterDirectory + "/PG_VERSION"))
            let first = PostgresConnectionPool(connectionString: conninfo)
            try await first.execute("CREATE TABLE kept (value text)")
            try await first.execute("INSERT INTO kept VALUES ($1)", ["survives"])
            await first.close()

            // Starting while running reuses the server.
            #expect(try await cluster.start() == conninfo)

            try await cluster.stop()
            #expect(!cluster.isRunning)
            try await cluster.stop()  // idempotent
            #expect(try await cluster.start() == conninfo)
            #expect(cluster.isRunning)

            let second = PostgresConnectionPool(connectionString: conninfo)
            let value = try await second.query("SELECT value FROM kept").first?["value", as: String.self]
            #expect(value == "survives")
            let settings = try await second.query(
                "SELECT current_setting('listen_addresses') AS listen, current_setting('fsync') AS fsync,"
                    + " current_database() AS db, current_user AS usr")
            let row = try #require(settings.first)
            #expect(try row["listen", as: String.self] == "")
            #expect(try row["fsync", as: String.self] == "on")
            #expect(try row["db", as: String.self] == "sluice")
            #expect(try row["usr", as: String.self] == "sluice_service")
            await second.close()
        }
    }

    /// A checkout in root's home (`/root` is `0700`): the server's unprivileged user must still reach its files.
    @Test func aDataDirectoryUnderAPrivateParentWorks() async throws {
        let parent = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-private")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        #expect(chmod(parent, 0o700) == 0)
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: parent + "/checkout/.sluice", sharedBuffers: "32MB"))
        do {
            let pool = PostgresConnectionPool(connectionString: try await cluster.start())
            #expect(try await pool.query("SELECT 1 AS one").first?["one", as: Int.self] == 1)
            await pool.close()
            try await cluster.stop()
        } catch {
            try? await cluster.stop()
            throw error
        }
        // Nobody else was let in (the group bits now show the ACL's mask).
        var info = stat()
        #expect(stat(parent, &info) == 0 && info.st_mode & 0o007 == 0)
    }

    @Test func longDataDirectoryUsesShortSocketDirectory() {
        let long = "/tmp/" + String(repeating: "d", count: 120)
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: long))
        #expect(cluster.socketDirectory.hasPrefix("/tmp/sluice-pg-"))
        #expect(cluster.socketDirectory == EmbeddedPostgres(configuration: .init(dataDirectory: long)).socketDirectory)
        let short = EmbeddedPostgres(configuration: .init(dataDirectory: "/var/lib/sluice"))
        #expect(short.socketDirectory == "/var/lib/sluice/run")
        #expect(short.connectionString() == "host='/var/lib/sluice/run' port=5432 dbname='sluice' user='sluice_service'"
                + " passfile='/var/lib/sluice/credentials/postgres.pgpass'")
    }
}
