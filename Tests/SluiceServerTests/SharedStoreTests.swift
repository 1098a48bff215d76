import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

/// Several `sluice serve` processes on one store: they share a staging directory, never destroy each
/// other's files, and refuse to start when they would not work together.
@Suite(.serialized) struct SharedStoreTests {
    private let admin = "shared-admin"

    private func csv(_ rows: Range<Int>) -> [UInt8] {
        var text = "sensor,at,value,note\n"
        for row in rows { text += "s\(row),1700000000000,\(row).5,n\n" }
        return Array(text.utf8)
    }

    private func exitStatus(of sluice: SluiceProcess) async throws -> Int32 {
        let process = sluice.process
        try await onThread { process.waitUntilExit() }
        return process.terminationStatus
    }

    @Test func restartingOneInstanceLosesNothingTheOtherReceives() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let root = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-shared")
        defer { try? FileManager.default.removeItem(atPath: root) }
        func arguments(_ name: String) -> [String] {
            ["--database-url", databaseURL, "--data-dir", "\(root)/\(name)", "--staging-dir", "\(root)/staging", "--ingest-workers", "1"]
        }
        let environment = ["SLUICE_ADMIN_TOKEN": admin]
        var restarted = try SluiceProcess(serve: arguments("a"), environment: environment)
        let receiving = try SluiceProcess(serve: arguments("b"), environment: environment)
        try await restarted.waitUntilReady()
        try await receiving.waitUntilReady()
        let created = try await receiving.client.send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer \(admin)"), ("Content-Type", "application/yaml")], body: .bytes(Array(tenantYAML("shared").utf8)))
        let key = try #require(try created.json()["api_key"] as? String, "\(created.text)")

        var ids: [String] = []
        let rowsPerFile = 20_000
        for round in 0..<3 {
            // An upload in progress on the receiving instance while the other one restarts (and recovers).
            let base = round * 3 * rowsPerFile
            let inProgress = try await PiecewiseUpload(receiving.client, tenant: "shared", key: key, name: "open\(round).csv",
                                                       body: csv(base..<base + rowsPerFile))
            for index in 1...2 {
                let start = base + index * rowsPerFile
                let response = try await receiving.client.send("POST", "/api/v1/tenants/shared/files?name=r\(round)-\(index).csv",
                                                               headers: [("Authorization", "Bearer \(key)")],
                                                               body: .bytes(csv(start..<start + rowsPerFile)))
                ids.append(try #require(try response.json()["id"] as? String, "\(response.text)"))
            }
            #expect(try await restarted.terminate() == 0)
            restarted = try SluiceProcess(serve: arguments("a"), environment: environment)
            try await restarted.waitUntilReady()
            let finished = try await inProgress.finish()
            #expect(finished.status == 201, "the upload in progress survives the other instance's restart: \(finished.text)")
            ids.append(try #require(try finished.json()["id"] as? String, "\(finished.text)"))
        }

        let database = try PostgresConnection(connectionString: databaseURL)
        defer { database.close() }
        let deadline = ContinuousClock.now + .seconds(180)
        while try database.query("SELECT count(*)::int AS n FROM sluice.files WHERE state = 'succeeded'").first?.decode(Int.self, "n") != ids.count {
            guard ContinuousClock.now < deadline else {
                let states = try database.query("SELECT string_agg(id || ' ' || state || ' ' || coalesce(error, ''), '; ') AS s FROM sluice.files")
                    .first?.decode(String.self, "s")
                throw TestClientError("not every file was ingested: \(states ?? "none")")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try database.query("SELECT count(*)::int AS n FROM shared.readings").first?.decode(Int.self, "n") == ids.count * rowsPerFile)
        #expect(try database.query("SELECT count(*)::int AS n FROM sluice.files WHERE attempts = 1").first?.decode(Int.self, "n") == ids.count)
        #expect(try await restarted.terminate() == 0)
        #expect(try await receiving.terminate() == 0)
    }

    @Test func anInstanceWithAnotherStagingDirectoryRefusesToStart() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let root = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-split")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try SluiceProcess(serve: ["--database-url", databaseURL, "--data-dir", "\(root)/a"],
                                      environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await first.waitUntilReady()
        let second = try SluiceProcess(serve: ["--database-url", databaseURL, "--data-dir", "\(root)/b"],
                                       environment: ["SLUICE_ADMIN_TOKEN": admin])
        #expect(try await exitStatus(of: second) != 0)
        #expect(second.log.contains("is not this database's staging directory"), "\(second.log)")
        #expect(second.log.contains("--staging-dir"))

        // A staging directory bound to one database is refused by another.
        let other = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(), "--data-dir", "\(root)/c",
                                              "--staging-dir", "\(root)/a/staging"], environment: ["SLUICE_ADMIN_TOKEN": admin])
        #expect(try await exitStatus(of: other) != 0)
        #expect(other.log.contains("belongs to another database"), "\(other.log)")
        #expect(try await first.client.get("/readyz").status == 200)
        #expect(try await first.terminate() == 0)
    }

    @Test func theEmbeddedClusterIsRunByOneServeAndOnlyStoppedByTheOneThatStartedIt() async throws {
        let dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-embedded-shared")
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let first = try SluiceProcess(serve: ["--data-dir", dataDirectory], environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await first.waitUntilReady()
        let second = try SluiceProcess(serve: ["--data-dir", dataDirectory], environment: ["SLUICE_ADMIN_TOKEN": admin])
        #expect(try await exitStatus(of: second) != 0)
        #expect(second.log.contains("another sluice process (pid \(first.process.processIdentifier))"), "\(second.log)")
        #expect(try await first.client.get("/readyz").status == 200)
        #expect(try await first.terminate() == 0)

        // A cluster started by someone else is reused, and left running on exit.
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: dataDirectory, sharedBuffers: "32MB"))
        _ = try await cluster.start()
        defer { try? cluster.stop() }
        let reusing = try SluiceProcess(serve: ["--data-dir", dataDirectory], environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await reusing.waitUntilReady()
        #expect(try await reusing.terminate() == 0)
        #expect(cluster.isRunning, "a serve does not stop a cluster it did not start")
    }
}
