import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct PoolTests {
    @Test func moreCallersThanConnectionsAllComplete() async throws {
        let maximum = 4
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: maximum))
        let peak = LockedBox(PostgresConnectionPool.Statistics())
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let stats = pool.statistics
                        peak.update {
                            $0.size = max($0.size, stats.size)
                            $0.inUse = max($0.inUse, stats.inUse)
                            $0.waiters = max($0.waiters, stats.waiters)
                        }
                        try connection.query("SELECT pg_sleep(0.02)")
                        return try connection.query("SELECT $1::int AS n", [.init(index)]).first?["n", as: Int.self] ?? -1
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted() == Array(0..<40))
        let observed = peak.value
        #expect(observed.size <= maximum)
        #expect(observed.inUse <= maximum)
        #expect(observed.inUse >= 2)
        #expect(observed.waiters > 0)
        let final = pool.statistics
        #expect(final.inUse == 0 && final.waiters == 0 && final.size <= maximum)
        await pool.close()
    }

    /// Client work (a flood of requests) cannot take the connections reserved for the service's own work:
    /// with both client slots held, a client waits while service work gets a connection at once, and the
    /// waiting client gets the next one freed by a client.
    @Test func clientWorkLeavesTheReservedConnectionsToServiceWork() async throws {
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: 3, reservedForServiceWork: 1))
        let release = LockedBox(false)
        // A failure below must not leave the holders (awaited at the end of the scope) waiting forever.
        defer { release.update { $0 = true } }
        func holdUntilReleased() async throws {
            try await PostgresConnectionPool.$isClientWork.withValue(true) {
                try await pool.withConnection { _ in
                    while !release.value { Thread.sleep(forTimeInterval: 0.005) }
                }
            }
        }
        async let first: Void = holdUntilReleased()
        async let second: Void = holdUntilReleased()
        try await waitUntil("both client connections are held") { pool.statistics.inUse == 2 }
        let third = Task { try await PostgresConnectionPool.$isClientWork.withValue(true) { try await pool.query("SELECT 3 AS n") } }
        try await waitUntil("the third client waits") { pool.statistics.waiters == 1 }
        #expect(pool.statistics.inUse == 2, "the third client waits although a connection is free")
        #expect(try await pool.query("SELECT 1 AS n").first?["n", as: Int.self] == 1, "service work is served at once")
        #expect(pool.statistics.waiters == 1)
        release.update { $0 = true }
        try await first
        try await second
        #expect(try await third.value.first?["n", as: Int.self] == 3)
        await pool.close()
    }

    @Test func waitersTimeOut() async throws {
        let pool = try await TestPostgres.makePool(
            configuration: .init(maximumConnections: 1, acquireTimeout: .milliseconds(200)))
        async let holder: Void = pool.withConnection { try $0.query("SELECT pg_sleep(1)") }
        try await Task.sleep(for: .milliseconds(100))
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.code == .poolTimeout)
        try await holder
        await pool.close()
    }

    @Test func closeWaitsForBorrowedConnectionsAndRejectsNewCalls() async throws {
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: 2))
        let finished = LockedBox(false)
        let borrowed = Task {
            try await pool.withConnection { connection in
                try connection.query("SELECT pg_sleep(0.3)")
                finished.update { $0 = true }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        await pool.close()
        let finishedBeforeClose = finished.value
        #expect(finishedBeforeClose)
        try await borrowed.value
        #expect(pool.statistics.size == 0)
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.code == .poolClosed)
    }

    @Test func reconnectsAfterServerRestart() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            let conninfo = try await cluster.start()
            let pool = PostgresConnectionPool(
                connectionString: conninfo, configuration: .init(maximumConnections: 3))
            try await pool.execute("CREATE TABLE kept (n int)")
            try await pool.execute("INSERT INTO kept VALUES ($1)", [1])
            let before = try await pool.query("SELECT pg_backend_pid() AS pid").first?["pid", as: Int.self]

            try await cluster.stop()
            #expect(!cluster.isRunning)
            try await cluster.start()

            let after = try await pool.query("SELECT pg_backend_pid() AS pid").first?["pid", as: Int.self]
            #expect(after != nil && after != before)
            let count = try await pool.query("SELECT count(*) AS n FROM kept").first?["n", as: Int.self]
            #expect(count == 1)
            #expect(pool.statistics.size <= 3)
            await pool.close()
        }
    }
}
