import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct TransactionTests {
    struct Boom: Error {}

    @Test func rollsBackOnThrowAndCommitsOnSuccess() async throws {
        let pool = try await TestPostgres.makePool()
        try await pool.execute("CREATE TABLE items (name text)")

        await #expect(throws: Boom.self) {
            try await pool.withTransaction { connection in
                try connection.execute("INSERT INTO items VALUES ($1)", ["rolled back"])
                throw Boom()
            }
        }
        try await pool.withTransaction { connection in
            try connection.execute("INSERT INTO items VALUES ($1)", ["committed"])
        }

        let names = try await pool.query("SELECT name FROM items").map { try $0["name", as: String.self] }
        #expect(names == ["committed"])
        await pool.close()
    }
}
