import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct IdentifierTests {
    @Test func quotesAndDoublesEmbeddedQuotes() {
        #expect(PostgresIdentifier.quote("x") == #""x""#)
        #expect(PostgresIdentifier.quote(#"a"b"#) == #""a""b""#)
        #expect(PostgresIdentifier.qualified("s", "t") == #""s"."t""#)
    }

    @Test func hostileColumnNameIsHarmless() async throws {
        let pool = try await TestPostgres.makePool()
        let hostile = #""; DROP TABLE x; --"#
        let (columns, tables, xCount) = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE x (id int)")
            try connection.execute("INSERT INTO x VALUES (1)")
            try connection.execute(
                "CREATE TABLE victim (\(PostgresIdentifier.quote(hostile)) text)")
            try connection.execute(
                "INSERT INTO victim (\(PostgresIdentifier.quote(hostile))) VALUES ($1)", ["ok"])
            let columns = try connection.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", ["victim"]
            ).map { try $0["column_name", as: String.self] }
            let tables = try connection.query(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).map { try $0["tablename", as: String.self] }
            let xCount = try connection.query("SELECT count(*) AS n FROM x").first?["n", as: Int.self]
            return (columns, tables, xCount)
        }
        #expect(columns == [hostile])
        #expect(tables == ["victim", "x"])
        #expect(xCount == 1)
        await pool.close()
    }
}
