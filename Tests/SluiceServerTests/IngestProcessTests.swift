import Foundation
import SluiceStore
import SluiceTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Batch ingestion across real `sluice` processes: crashes, several servers on one store, the CLI.
@Suite(.serialized) struct IngestProcessTests {
    private let admin = "ingest-admin"

    /// `rows` CSV rows of the test schema with distinct keys `s<offset + i>`.
    private func csv(rows: Int, offset: Int = 0) -> [UInt8] {
        var text = "sensor,at,value,note\n"
        text.reserveCapacity(rows * 32)
        for index in offset..<offset + rows { text += "s\(index),1700000000000,\(index).5,n\n" }
        return Array(text.utf8)
    }

    private func createTenant(_ server: SluiceProcess, _ id: String, extra: String = "") async throws -> String {
        let created = try await server.client.send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer \(admin)"), ("Content-Type", "application/yaml")],
            body: .bytes(Array((tenantYAML(id) + extra).utf8)))
        guard created.status == 201, let key = try created.json()["api_key"] as? String else { throw TestClientError(created.text) }
        return key
    }

    private func upload(_ server: SluiceProcess, _ tenant: String, key: String, name: String, _ bytes: [UInt8]) async throws -> String {
        let response = try await server.client.send("POST", "/api/v1/tenants/\(tenant)/files?name=\(name)",
                                                     headers: [("Authorization", "Bearer \(key)")], body: .bytes(bytes))
        guard let id = try response.json()["id"] as? String else { throw TestClientError(response.text) }
        return id
    }

    private func count(_ database: PostgresConnection, _ sql: String) throws -> Int {
        try database.query(sql).first?.decode(Int.self, "n") ?? -1
    }

    private func waitFinished(_ database: PostgresConnection, files: Int, timeout: Duration = .seconds(180)) async throws {
        let deadline = ContinuousClock.now + timeout
        while try count(database, "SELECT count(*)::int AS n FROM sluice.files WHERE state IN ('succeeded', 'partial', 'failed')") < files {
            guard ContinuousClock.now < deadline else { throw TestClientError("files were not ingested in time") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func killDuringIngestionThenRestartLoadsTheFileExactlyOnce() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-ingest-crash")
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let arguments = ["--database-url", databaseURL, "--data-dir", dataDirectory, "--ingest-workers", "1", "--ingest-lease", "3"]
        let first = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await first.waitUntilReady()
        let key = try await createTenant(first, "crash")
        let rows = 1_500_000
        let id = try await upload(first, "crash", key: key, name: "big.csv", csv(rows: rows))

        let database = try PostgresConnection(connectionString: databaseURL)
        defer { database.close() }
        let deadline = ContinuousClock.now + .seconds(60)
        while try count(database, "SELECT count(*)::int AS n FROM sluice.files WHERE state = 'ingesting'") == 0 {
            guard ContinuousClock.now < deadline else { throw TestClientError("the file was never claimed:\n\(first.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(700))
        kill(first.process.processIdentifier, SIGKILL)
        let killed = first.process
        try await onThread { killed.waitUntilExit() }
        #expect(try count(database, "SELECT count(*)::int AS n FROM sluice.files WHERE state = 'ingesting'") == 1,
                "the kill must land while the file is being ingested")
        // By the ingest that followed its upload: published under its lease, not yet committed.
        #expect(try count(database, "SELECT count(*)::int AS n FROM sluice.files WHERE lease_owner LIKE '%/upload'") == 1)
        #expect(try count(database, "SELECT count(*)::int AS n FROM crash.readings") == 0)

        let second = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await second.waitUntilReady()
        try await waitFinished(database, files: 1)
        let file = try #require(try database.query(
            "SELECT state, rows_ingested::int AS ingested, attempts FROM sluice.files WHERE id = $1", [.init(id)]).first)
        #expect(try file.decode(String.self, "state") == "succeeded")
        #expect(try file.decode(Int.self, "ingested") == rows)
        #expect(try file.decode(Int.self, "attempts") == 2)
        #expect(try count(database, "SELECT count(*)::int AS n FROM crash.readings") == rows)
        #expect(try count(database, "SELECT count(DISTINCT sensor)::int AS n FROM crash.readings") == rows)
        #expect(try count(database, "SELECT count(*)::int AS n FROM sluice.ingestion_reports WHERE source_id = '\(id)'") == 1)
        #expect(try await second.terminate() == 0)
    }

    /// A kill while an upload is being ingested as it arrives: the upload was never acknowledged, so nothing of
    /// it may remain (no ledger row, no rows, no staged file), and the server works on after a restart.
    @Test func killDuringAnUploadBeingIngestedLeavesNothingOfIt() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-ingest-upload-crash")
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        // Heartbeats every 0.5 s: the killed instance is dead after 3 s, and its partial upload is removed then.
        let arguments = ["--database-url", databaseURL, "--data-dir", dataDirectory, "--ingest-workers", "1", "--heartbeat-interval", "0.5"]
        let first = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await first.waitUntilReady()
        let key = try await createTenant(first, "cut")
        let body = csv(rows: 200_000)
        let interrupted = try await PiecewiseUpload(first.client, tenant: "cut", key: key, name: "big.csv", body: body)
        defer { interrupted.cutOff() }

        let database = try PostgresConnection(connectionString: databaseURL)
        defer { database.close() }
        let copying = PiecewiseUpload.activeCopies(into: #""cut"."readings""#)
        let deadline = ContinuousClock.now + .seconds(60)
        while try count(database, copying) == 0 {
            guard ContinuousClock.now < deadline else { throw TestClientError("no ingest followed the upload:\n\(first.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(first.process.processIdentifier, SIGKILL)
        let killed = first.process
        try await onThread { killed.waitUntilExit() }

        let second = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await second.waitUntilReady()
        #expect(try count(database, "SELECT count(*)::int AS n FROM sluice.files") == 0)
        #expect(try count(database, "SELECT count(*)::int AS n FROM cut.readings") == 0)
        #expect(try count(database, copying) == 0)
        let inbox = "\(dataDirectory)/staging/cut/in"
        let swept = ContinuousClock.now + .seconds(60)
        while try !FileManager.default.contentsOfDirectory(atPath: inbox).isEmpty && ContinuousClock.now < swept {
            try await Task.sleep(for: .milliseconds(100))
        }
        let staged = try FileManager.default.contentsOfDirectory(atPath: inbox)
        #expect(staged.isEmpty, "\(staged)")
        // The client sends the file again: ingested once.
        let id = try await upload(second, "cut", key: key, name: "big.csv", body)
        try await waitFinished(database, files: 1)
        #expect(try count(database, "SELECT count(*)::int AS n FROM cut.readings WHERE _sluice_source_id = '\(id)'") == 200_000)
        #expect(try await second.terminate() == 0)
    }

    @Test func twoServersShareTheQueueAndIngestEveryFileOnce() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-ingest-shared")
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let arguments = ["--database-url", databaseURL, "--data-dir", dataDirectory, "--ingest-workers", "2"]
        let one = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        let two = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await one.waitUntilReady()
        try await two.waitUntilReady()
        let key = try await createTenant(one, "shared", extra: "\nservice_agreement: {resources: {concurrency: 4}}")
        let files = 16
        let rowsPerFile = 40_000
        var ids: [String] = []
        for index in 0..<files {
            let server = index.isMultiple(of: 2) ? one : two
            ids.append(try await upload(server, "shared", key: key, name: "part\(index).csv",
                                        csv(rows: rowsPerFile, offset: index * rowsPerFile)))
        }
        let database = try PostgresConnection(connectionString: databaseURL)
        defer { database.close() }
        try await waitFinished(database, files: files)

        #expect(try count(database, "SELECT count(*)::int AS n FROM sluice.files WHERE state = 'succeeded' AND attempts = 1") == files)
        #expect(try count(database, "SELECT count(*)::int AS n FROM shared.readings") == files * rowsPerFile)
        #expect(try count(database, "SELECT count(*)::int AS n FROM sluice.ingestion_reports") == files)
        #expect(try count(database, "SELECT count(DISTINCT source_id)::int AS n FROM sluice.ingestion_reports") == files)
        let ingestedByOne = ids.filter { id in one.log.split(separator: "\n").contains { $0.contains("file ingested") && $0.contains(id) } }
        let ingestedByTwo = ids.filter { id in two.log.split(separator: "\n").contains { $0.contains("file ingested") && $0.contains(id) } }
        #expect(Set(ingestedByOne).isDisjoint(with: ingestedByTwo), "no file is ingested by both")
        #expect(ingestedByOne.count + ingestedByTwo.count == files)
        #expect(!ingestedByOne.isEmpty && !ingestedByTwo.isEmpty, "both servers took work: \(ingestedByOne.count) + \(ingestedByTwo.count)")
        #expect(try await one.terminate() == 0)
        #expect(try await two.terminate() == 0)
    }

    @Test func ingestCommandLoadsLocalFilesThroughTheEngine() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-ingest-cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: "\(directory)/config/tenants", withIntermediateDirectories: true)
        try tenantYAML("local").write(toFile: "\(directory)/config/tenants/local.yaml", atomically: true, encoding: .utf8)
        try Data(csv(rows: 1000)).write(to: URL(fileURLWithPath: "\(directory)/good.csv"))
        try "sensor,at,value\ns1,never,1\n".write(toFile: "\(directory)/bad.csv", atomically: true, encoding: .utf8)

        func ingest(_ files: [String]) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
            process.arguments = ["ingest", "--tenant", "local", "--database-url", databaseURL, "--data-dir", "\(directory)/data",
                                 "--config", "\(directory)/config", "--log-level", "error"] + files.map { "\(directory)/\($0)" }
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }

        let good = try ingest(["good.csv"])
        #expect(good.status == 0, "\(good.output)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(good.output.utf8)) as? [String: Any])
        #expect(line["state"] as? String == "succeeded")
        #expect(line["rows_ingested"] as? Int == 1000)

        let mixed = try ingest(["good.csv", "bad.csv"])
        #expect(mixed.status == 1, "a failed file makes the command fail: \(mixed.output)")
        let states = mixed.output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["state"] as? String
        }
        #expect(states == ["succeeded", "failed"], "the duplicate good.csv reports its earlier ingestion")

        let missing = try ingest(["nope.csv"])
        #expect(missing.status != 0)
        let database = try PostgresConnection(connectionString: databaseURL)
        defer { database.close() }
        #expect(try count(database, "SELECT count(*)::int AS n FROM local.readings") == 1000)
    }
}
