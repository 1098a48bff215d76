import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct CopyTests {
    struct Abort: Error {}

    @Test func copiesHundredThousandRows() async throws {
        let pool = try await TestPostgres.makePool()
        let (copied, counted) = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE events (id bigint, tenant text, payload text)")
            let copied = try connection.copyIn("COPY events (id, tenant, payload) FROM STDIN") { writer in
                for id in 0..<100_000 {
                    try writer.writeRow([String(id), "tenant-\(id % 7)", id % 10 == 0 ? nil : "payload \(id)"])
                }
            }
            let counted = try connection.query("SELECT count(*) AS n, count(payload) AS p FROM events").first
            return (copied, try counted?["n", as: Int.self])
        }
        #expect(copied == 100_000)
        #expect(counted == 100_000)
        await pool.close()
    }

    @Test func abortedCopyLeavesNoRowsAndConnectionUsable() async throws {
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: 1))
        try await pool.execute("CREATE TABLE events (id int)")
        await #expect(throws: Abort.self) {
            try await pool.withConnection { connection in
                try connection.copyIn("COPY events FROM STDIN") { writer in
                    for id in 0..<50_000 { try writer.writeRow([String(id)]) }
                    throw Abort()
                }
            }
        }
        let count = try await pool.query("SELECT count(*) AS n FROM events").first?["n", as: Int.self]
        #expect(count == 0)
        let stats = pool.statistics
        #expect(stats.size == 1)
        await pool.close()
    }

    @Test func textEscapingRoundTrips() async throws {
        let pool = try await TestPostgres.makePool()
        let values: [String?] = [
            "tab\there", "line\nbreak", "carriage\rreturn", #"back\slash"#, #"\N"#, nil, "", "🦆\t漢\\n",
        ]
        let stored = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE texts (position int, value text)")
            let copied = try connection.copyIn("COPY texts FROM STDIN") { writer in
                for (position, value) in values.enumerated() { try writer.writeRow([String(position), value]) }
            }
            let rows = try connection.query("SELECT value FROM texts ORDER BY position")
            return (copied, try rows.map { try $0.text("value") })
        }
        #expect(stored.0 == values.count)
        #expect(stored.1 == values)
        await pool.close()
    }

    @Test func encodedRowsWithIntegersAndNullsRoundTrip() async throws {
        let pool = try await TestPostgres.makePool()
        let numbers = [0, 7, -1, 1_234_567_890_123, Int.max, Int.min]
        let stored = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE numbers (n bigint, label text, missing text)")
            _ = try connection.copyIn("COPY numbers FROM STDIN") { writer in
                var rows = CopyTextRows()
                for number in numbers {
                    rows.append(number)
                    rows.append("n=\(number)\t\\")
                    rows.appendNull()
                    rows.endRow()
                }
                try writer.write(rows)
            }
            return try connection.query("SELECT n::text AS n, label, missing IS NULL AS null FROM numbers ORDER BY numbers.n")
                .map { [try $0.text("n"), try $0.text("label"), try $0.text("null")] }
        }
        #expect(stored == numbers.sorted().map { [String($0), "n=\($0)\t\\", "t"] })
        await pool.close()
    }

    @Test func copyIntoMissingTableFails() async throws {
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: 1))
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { connection in
                try connection.copyIn("COPY missing FROM STDIN") { try $0.writeRow(["1"]) }
            }
        }
        #expect(error?.code == .copyFailed)
        #expect(error?.sqlState == "42P01")
        #expect(try await pool.query("SELECT 1 AS one").count == 1)
        await pool.close()
    }
}
