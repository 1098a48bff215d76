import Foundation
import SluiceStore
import SluiceTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Killing `sluice serve` (SIGKILL) at a bad moment and starting it again.
@Suite(.serialized) struct CrashTests {
    @Test func killDuringUploadLeavesNoPartialFileAndNoLedgerRow() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-crash")
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        // Heartbeats every 0.5 s: a killed instance is dead after 3 s, and what it left is removed then.
        let arguments = ["--database-url", databaseURL, "--data-dir", dataDirectory, "--ingest-workers", "0", "--heartbeat-interval", "0.5"]
        let environment = ["SLUICE_ADMIN_TOKEN": "crash-admin"]
        let first = try SluiceProcess(serve: arguments, environment: environment)
        try await first.waitUntilReady()

        let created = try await first.client.send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer crash-admin"), ("Content-Type", "application/yaml")],
            body: .bytes(Array(tenantYAML("crash").utf8)))
        #expect(created.status == 201)
        let key = try #require(try created.json()["api_key"] as? String)

        // Start a 100 MB upload, send 8 MB of it, and kill the server while it waits for the rest.
        let connection = try await first.client.connect()
        let head = first.client.request("POST", "/api/v1/tenants/crash/files?name=big.csv",
                                        headers: [("Authorization", "Bearer \(key)")],
                                        body: .repeating(pattern: [0x61], count: 100 << 20))
        try await onThread {
            try connection.write(head)
            try connection.write(.repeating(pattern: [UInt8](repeating: 0x61, count: 65536), count: 8 << 20))
        }
        let inbox = "\(dataDirectory)/staging/crash/in"
        let deadline = ContinuousClock.now + .seconds(120)
        while ((try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? []).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let partial = try FileManager.default.contentsOfDirectory(atPath: inbox)
        #expect(partial.count == 1 && partial[0].hasPrefix(".tmp-"), "only a hidden temporary file exists: \(partial)")
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        connection.close()

        let second = try SluiceProcess(serve: arguments, environment: environment)
        try await second.waitUntilReady()
        let swept = ContinuousClock.now + .seconds(60)
        while try !FileManager.default.contentsOfDirectory(atPath: inbox).isEmpty && ContinuousClock.now < swept {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: inbox).isEmpty, "the dead instance's partial upload is removed")
        let database = try PostgresConnection(connectionString: databaseURL)
        defer { database.close() }
        #expect(try database.query("SELECT count(*)::int AS n FROM sluice.files").first?.decode(Int.self, "n") == 0)
        let listed = try await second.client.send("GET", "/api/v1/tenants/crash/files", headers: [("Authorization", "Bearer \(key)")])
        #expect((try listed.json()["files"] as? [Any])?.isEmpty == true)
        #expect(try await second.terminate() == 0)
    }
}

/// The memory bound of a large upload, measured on a real `sluice serve` process.
@Suite struct LargeUploadTests {
    @Test func oneGigabyteUploadStreamsWithBoundedMemory() async throws {
        let dataDirectory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-big")
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let sluice = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(), "--data-dir", dataDirectory,
                                                "--ingest-workers", "0"],
                                       environment: ["SLUICE_ADMIN_TOKEN": "big-admin"])
        try await sluice.waitUntilReady()
        let created = try await sluice.client.send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer big-admin"), ("Content-Type", "application/yaml")],
            body: .bytes(Array(tenantYAML("bulk", constraints: """
                constraints:
                  max_file_size: 2GiB
                  storage_quota: 4GiB
                """).utf8)))
        let key = try #require(try created.json()["api_key"] as? String)
        let pid = sluice.process.processIdentifier
        let before = ProcessProbe.residentBytes(pid: pid)
        let line = Array("sensor-000001,1700000000000,12.5,some note text\n".utf8)
        let pattern = Array((0..<(65536 / line.count)).flatMap { _ in line })
        let size = 1 << 30
        let response = try await sluice.client.send("POST", "/api/v1/tenants/bulk/files?name=big.csv",
                                                    headers: [("Authorization", "Bearer \(key)")],
                                                    body: .repeating(pattern: pattern, count: size))
        let growth = ProcessProbe.peakResidentBytes(pid: pid) - before
        #expect(response.status == 201, "\(response.text)")
        #expect(try response.json()["size"] as? Int == size)
        #expect(growth < 100 * 1024 * 1024, "peak resident memory grew by \(growth / 1024 / 1024) MiB")
        let staged = try FileManager.default.contentsOfDirectory(atPath: "\(dataDirectory)/staging/bulk/in")
        #expect(staged.count == 1)
        #expect(try await sluice.terminate() == 0)
    }
}
