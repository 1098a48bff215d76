import Foundation
import SluiceTestSupport
import Testing

/// SIGTERM ends `sluice serve` promptly and cleanly, whatever is in progress.
@Suite struct ShutdownTests {
    private let admin = "shutdown-admin"

    /// An external app that would run for ten minutes, an upload waiting for the rest of its body, and one
    /// being received: the app is killed, the requests get the grace period, and the process exits 0.
    @Test func sigtermWhileAnAppRunsAndUploadsArePendingExitsWithinTheGrace() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-shutdown")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The app sees only its own staging directory: it signals that it runs there.
        let marker = directory + "/data/staging/sleepy/app-running"
        let app = directory + "/sleepy.sh"
        try "#!/bin/sh\ntouch \"$SOURCE_PATH/app-running\"\nexec sleep 600\n".write(toFile: app, atomically: true, encoding: .utf8)
        chmod(app, 0o755)
        let sluice = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(), "--data-dir", directory + "/data",
                                               "--ingest-workers", "1", "--shutdown-grace", "2"],
                                       environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await sluice.waitUntilReady()
        let created = try await sluice.client.send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer \(admin)"), ("Content-Type", "application/yaml")],
            body: .bytes(Array((tenantYAML("sleepy") + "\ningest_app: {kind: external, command: [\(app)]}\n").utf8)))
        let key = try #require(try created.json()["api_key"] as? String, "\(created.text)")
        let staged = try await sluice.client.send("POST", "/api/v1/tenants/sleepy/files?name=a.csv", headers: [("Authorization", "Bearer \(key)")],
                                                  body: .bytes(Array("sensor,at,value,note\ns1,1700000000000,1.5,n\n".utf8)))
        #expect(staged.status == 201, "\(staged.text)")
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: marker) {
            guard ContinuousClock.now < deadline else { throw TestClientError("the app did not start:\n\(sluice.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        var body = "sensor,at,value,note\n"
        for row in 0..<20_000 { body += "s\(row),1700000000000,1.5,n\n" }
        let pending = try await PiecewiseUpload(sluice.client, tenant: "sleepy", key: key, name: "b.csv", body: Array(body.utf8))
        defer { pending.cutOff() }

        let signalled = ContinuousClock.now
        let status = try await sluice.terminate(timeout: .seconds(120))
        // A clean exit comes before the forced one (status 70, 2 + 15 s after the signal).
        #expect(status == 0, "exit \(status) after \(signalled.duration(to: .now)):\n\(sluice.log)")
        #expect(!sluice.log.contains("Fatal error"))
    }
}
