import Foundation
import SluiceCore
import SluiceStore
import SluiceTestSupport
import Synchronization

/// The stream benchmark's open loop and its two baselines.
extension StreamBench {
    // MARK: Open loop

    /// Sends `requestsPerSecond` requests a second for `seconds`, each at its scheduled time whatever the
    /// answers before it (a pool of keep-alive connections, each on its own thread); a request's latency runs
    /// from its scheduled time, so waiting for a free connection counts.
    func openLoop(requestsPerSecond: Double, seconds: Int) async throws -> (sent: Int, failed: Int, p50: Double, p99: Double, max: Double) {
        let total = Int(requestsPerSecond * Double(seconds))
        let interval = 1 / requestsPerSecond
        let jobs = OpenLoopState()
        let start = ContinuousClock.now + .milliseconds(200)
        let port = server.port
        let key = key
        let connections = 96
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<connections {
                group.addTask {
                    try await onThread {
                        var connection = try TestConnection(host: "127.0.0.1", port: port)
                        while true {
                            let number = jobs.state.withLock { state -> Int? in
                                guard state.next < total else { return nil }
                                defer { state.next += 1 }
                                return state.next
                            }
                            guard let number else { return }
                            let scheduled = start + .seconds(Double(number) * interval)
                            let wait = ContinuousClock.now.duration(to: scheduled)
                            if wait > .zero { Thread.sleep(forTimeInterval: wait.secondsValue) }
                            let body = (0..<Self.perRequest).map { Self.message("open-\(worker)", number * Self.perRequest + $0) }
                                .joined(separator: "\n")
                            let request = TestHTTPClient(port: port).request(
                                "POST", "/api/v1/tenants/tenant-a/stream",
                                headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/x-ndjson")],
                                body: .bytes(Array(body.utf8))) + Array(body.utf8)
                            var response = try? connection.roundTrip(request, method: "POST")
                            if response == nil {
                                connection = try TestConnection(host: "127.0.0.1", port: port)
                                response = try? connection.roundTrip(request, method: "POST")
                            }
                            let latency = scheduled.duration(to: .now).secondsValue
                            jobs.state.withLock { state in
                                state.latencies.append(latency)
                                if response?.status != 200 { state.failed += 1 }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let (_, latencies, failed) = jobs.state.withLock { $0 }
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return (sorted.count, failed, percentile(0.5), percentile(0.99), sorted.last ?? .nan)
    }

    // MARK: Baselines

    /// Seconds of one `psql \copy` of `rows` tenant-A rows (CSV of the same values) into a table of the same definition.
    func copyBaseline(psql: PSQL, rows: Int) async throws -> Double {
        let path = directory + "/baseline.csv"
        let columns = definition.schema.fields.map(\.name)
        try await onThread {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw TestClientError("cannot create \(path)")
            }
            defer { try? handle.close() }
            var chunk = ""
            for number in 0..<rows {
                chunk += "P\(number % 61),base-\(number),1,2,3,4,5,\(number % 997),2026-12-06T08:00:00,\(number % 1000).25,12.5\n"
                if chunk.utf8.count > 1 << 20 {
                    try handle.write(contentsOf: Data(chunk.utf8))
                    chunk = ""
                }
            }
            try handle.write(contentsOf: Data(chunk.utf8))
        }
        let table = "bench.stream_baseline"
        let quoted = columns.map(PostgresIdentifier.quote).joined(separator: ", ")
        try await psql.run(["CREATE SCHEMA IF NOT EXISTS bench",
                            #"CREATE TABLE \#(table) (LIKE "tenant-a".analytics INCLUDING ALL)"#,
                            "ALTER TABLE \(table) ALTER COLUMN \(PostgresIdentifier.quote(TenantStorage.sourceIDColumn)) SET DEFAULT 'b0000000000000000000000000'",
                            "CHECKPOINT"])
        let started = ContinuousClock.now
        try await psql.run(["\\copy \(table) (\(quoted)) FROM '\(path)' WITH (FORMAT csv)"], singleTransaction: true)
        let elapsed = started.duration(to: .now).secondsValue
        try await psql.run(["DROP TABLE \(table)", "CHECKPOINT"])
        return elapsed
    }

    /// Rows inserted in `seconds` by 8 connections each running one autocommitted `INSERT … VALUES` per message.
    func naiveInserts(seconds: Int) async throws -> (rows: Int, seconds: Double) {
        let url = url
        let columns = definition.schema.fields.map { PostgresIdentifier.quote($0.name) } + [PostgresIdentifier.quote(TenantStorage.sourceIDColumn)]
        let sql = #"INSERT INTO "tenant-a".analytics ("# + columns.joined(separator: ", ") + ") VALUES ("
            + (1...columns.count).map { "$\($0)" }.joined(separator: ", ") + ")"
        let started = ContinuousClock.now
        let deadline = started + .seconds(seconds)
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    try await onThread {
                        let connection = try PostgresConnection(connectionString: url)
                        defer { connection.close() }
                        var number = 0
                        while ContinuousClock.now < deadline {
                            let values: [PostgresValue] = [
                                .init("P\(number % 61)"), .init("naive-\(worker)-\(number)"), .init(1), .init(2), .init(3), .init(4), .init(5),
                                .init(number % 997), .init("2026-12-06T08:00:00"), .init(Double(number % 1000) + 0.25), .init(12.5),
                                .init("naive0000000000000000000000"),
                            ]
                            _ = try connection.execute(sql, values)
                            number += 1
                        }
                        return number
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        return (counts, started.duration(to: .now).secondsValue)
    }
}

/// The open loop's schedule position and what its requests measured, shared by its connection threads.
private final class OpenLoopState: Sendable {
    let state = Mutex<(next: Int, latencies: [Double], failed: Int)>((0, [], 0))
}
