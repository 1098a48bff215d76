import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct ConnectionTests {
    @Test func parametersRoundTripNullsAndUnicode() async throws {
        let pool = try await TestPostgres.makePool()
        let text = "héllo 🦆 漢字テスト 👩‍👩‍👧"
        let missing: String? = nil
        let count: Int? = nil
        let row = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE t (a text, b text, c int, d bigint)")
            try connection.execute(
                "INSERT INTO t VALUES ($1, $2, $3, $4)", [.init(text), .init(missing), .init(count), 7])
            return try connection.query("SELECT a, b, c, d, length(a) AS len FROM t").first
        }
        let fetched = try #require(row)
        #expect(try fetched["a", as: String.self] == text)
        #expect(try fetched["b", as: String.self] == nil)
        #expect(try fetched["c", as: Int.self] == nil)
        #expect(try fetched["d", as: Int64.self] == 7)
        #expect(try fetched["len", as: Int.self] == text.unicodeScalars.count)
        await pool.close()
    }

    @Test func decodesTypesAndRejectsMismatches() async throws {
        let pool = try await TestPostgres.makePool()
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        let row = try #require(
            try await pool.query(
                "SELECT $1::timestamptz AS at, $2::int4 AS small, $3::float8 AS real, $4::bool AS yes,"
                    + " 'abc'::text AS word, $5::bytea AS blob, '2024-03-01 12:00:00+05:30'::timestamptz AS zoned",
                [.init(date), .init(Int32(-5)), 2.5, true, .init([UInt8]([0, 255, 16]))]
            ).first)
        let decoded = try #require(try row["at", as: Date.self])
        #expect(abs(decoded.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_01)
        #expect(try row["small", as: Int32.self] == -5)
        #expect(try row["real", as: Double.self] == 2.5)
        #expect(try row["yes", as: Bool.self] == true)
        #expect(try row.text("word") == "abc")
        #expect(try row[4, as: String.self] == "abc")
        #expect(try row["blob", as: [UInt8].self] == [0, 255, 16])
        let zoned = try #require(try row["zoned", as: Date.self])
        #expect(zoned.timeIntervalSince1970 == 1_709_274_600)

        let mismatch = #expect(throws: PostgresError.self) { try row["word", as: Int.self] }
        #expect(mismatch?.code == .decodeFailed)
        let unknown = #expect(throws: PostgresError.self) { try row["nope", as: Int.self] }
        #expect(unknown?.code == .decodeFailed)
        await pool.close()
    }

    @Test func timesOutsideYears1To9999AreClampedNotRefused() async throws {
        let pool = try await TestPostgres.makePool()
        let row = try #require(try await pool.query("SELECT $1::timestamptz AS past, $2::timestamptz AS future",
                                                    [.init(Date.distantPast), .init(Date(timeIntervalSince1970: 1e15))]).first)
        #expect(try row["past", as: Date.self]?.timeIntervalSince1970 == -62_135_596_800, "Date.distantPast is the earliest time")
        let future = try #require(try row["future", as: Date.self]).timeIntervalSince1970
        let text = try row.text("future") ?? ""
        #expect(abs(future - 253_402_300_799.999) < 0.000_1, "far-future times are the last millisecond of 9999: \(text)")
        await pool.close()
    }

    @Test func uniqueViolationCarriesSQLStateAndDetail() async throws {
        let errors = LockedBox<[PostgresError]>([])
        let pool = try await TestPostgres.makePool(
            configuration: .init(onQueryError: { error in errors.update { $0.append(error) } }))
        try await pool.execute("CREATE TABLE u (id int PRIMARY KEY)")
        try await pool.execute("INSERT INTO u VALUES ($1)", [1])
        let error = await #expect(throws: PostgresError.self) {
            try await pool.execute("INSERT INTO u VALUES ($1)", [1])
        }
        #expect(error?.code == .queryFailed)
        #expect(error?.sqlState == "23505")
        #expect(error?.sqlStateClass == "23")
        #expect(error?.isUniqueViolation == true)
        #expect(error?.detail?.contains("(id)=(1)") == true)
        #expect(errors.value.map(\.sqlState) == ["23505"])
        await pool.close()
    }

    @Test func syntaxErrorReportsQueryAndLeavesConnectionUsable() async throws {
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: 1))
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELEC 1") }
        #expect(error?.sqlState == "42601")
        #expect(error?.sql == "SELEC 1")
        let value = try await pool.query("SELECT 41 + $1::int AS n", [1]).first?["n", as: Int.self]
        #expect(value == 42)
        #expect(pool.statistics.size == 1)
        await pool.close()
    }

    @Test func connectionFailureIsReported() throws {
        let error = #expect(throws: PostgresError.self) {
            try PostgresConnection(connectionString: "host=/nonexistent-sluice-socket-dir dbname=x user=y")
        }
        #expect(error?.code == .connectionFailed)
    }
}
