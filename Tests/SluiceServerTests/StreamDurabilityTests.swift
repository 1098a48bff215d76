import Foundation
import SluiceStore
import SluiceTestSupport
import Synchronization
import Testing

/// What the stream path promises under failure, with real processes: an acknowledged message is stored
/// exactly once whatever happens to Sluice or its store, overload is refused rather than absorbed, and an
/// idempotency key holds across processes and restarts.
@Suite(.serialized) struct StreamDurabilityTests {
    private let admin = "stream-admin"

    private func createTenant(_ yaml: String, on port: UInt16) async throws -> String {
        let created = try await TestHTTPClient(port: port).send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer \(admin)"), ("Content-Type", "application/yaml")], body: .bytes(Array(yaml.utf8)))
        return try #require(created.member("api_key") as? String, "\(created.text)")
    }

    @Test func everyAcknowledgedMessageSurvivesKillNine() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let data = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-kill")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let arguments = ["--database-url", databaseURL, "--data-dir", data, "--ingest-workers", "0"]
        var sluice = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await sluice.waitUntilReady()
        let key = try await createTenant(tenantYAML("killed"), on: sluice.port)
        let port = Atomic<UInt16>(sluice.port)
        let load = StreamLoad(clients: 8, messages: 20, tenant: "killed", key: key) { port.load(ordering: .relaxed) }
        try await waitUntil("messages are acknowledged", timeout: .seconds(60)) { load.acknowledgedCount >= 2000 }
        kill(sluice.process.processIdentifier, SIGKILL)
        try await onThread { [process = sluice.process] in process.waitUntilExit() }
        let beforeRestart = load.acknowledgedCount
        sluice = try SluiceProcess(serve: arguments, environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await sluice.waitUntilReady()
        port.store(sluice.port, ordering: .relaxed)
        try await waitUntil("messages are acknowledged after the restart", timeout: .seconds(60)) {
            load.acknowledgedCount >= beforeRestart + 1000
        }
        await load.stop()
        try load.expectAcknowledgedStored(databaseURL: databaseURL, table: "killed.readings")
        #expect(try await sluice.terminate() == 0)
    }

    @Test func aStoppedStoreIsAnsweredWith503AndIngestionResumesByItself() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            let databaseURL = try await cluster.start()
            try await InProcessSluice.with(configure: { $0.store.databaseURL = databaseURL }) { sluice in
                let key = try await sluice.createTenant(tenantYAML("outage"), contentType: "application/yaml")
                let load = StreamLoad(clients: 4, messages: 10, tenant: "outage", key: key) { sluice.port }
                try await waitUntil("messages are acknowledged", timeout: .seconds(60)) { load.acknowledgedCount >= 500 }
                try await cluster.stop()
                try await waitUntil("requests are refused with 503", timeout: .seconds(60)) { load.count(status: 503) >= 10 }
                let acknowledgedWhileDown = load.acknowledgedCount
                _ = try await cluster.start()
                try await waitUntil("ingestion resumes", timeout: .seconds(90)) { load.acknowledgedCount >= acknowledgedWhileDown + 500 }
                await load.stop()
                try load.expectAcknowledgedStored(databaseURL: databaseURL, table: "outage.readings")
                #expect(Set(load.statuses.keys).isSubset(of: [200, 503]), "\(load.statuses)")
                #expect(load.codes["store_unavailable", default: 0] > 0, "\(load.codes)")
            }
        }
    }

    @Test func overloadIsRefusedWith429WhileMemoryStaysBounded() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let data = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-overload")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let sluice = try SluiceProcess(serve: ["--database-url", databaseURL, "--data-dir", data, "--ingest-workers", "0"],
                                       environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await sluice.waitUntilReady()
        let yaml = tenantYAML("flooded", constraints: "constraints: {max_stream_rate: {messages_per_second: 500, burst: 1000}}") + """

            service_agreement:
              stream: {max_queue_messages: 2000, max_instances: 1}
            """
        let key = try await createTenant(yaml, on: sluice.port)
        let port = sluice.port
        // 16 clients sending 50-message requests as fast as they can: far beyond 10 × 500 messages/s.
        let load = StreamLoad(clients: 16, messages: 50, tenant: "flooded", key: key) { port }
        let started = ContinuousClock.now
        try await waitUntil("the flood has run for a while", timeout: .seconds(120), interval: .milliseconds(100)) {
            started.duration(to: .now) >= .seconds(8) && load.count(status: 429) >= 100
        }
        await load.stop()
        let elapsed = started.duration(to: .now).secondsValue
        let offered = Double(load.statuses.values.reduce(0, +) * 50) / elapsed
        #expect(offered >= 5000, "offered \(offered) messages/s, less than ten times the rate")
        #expect(load.retryAfterMissing == 0)
        #expect(Set(load.codes.keys).isSubset(of: ["rate_limited", "backpressure"]), "\(load.codes)")
        #expect(sluice.process.isRunning)
        let peak = ProcessProbe.peakResidentBytes(pid: sluice.process.processIdentifier)
        #expect(peak < 400 << 20, "peak RSS \(peak >> 20) MiB")
        try load.expectAcknowledgedStored(databaseURL: databaseURL, table: "flooded.readings")
        let ready = try await sluice.client.get("/readyz")
        #expect(ready.status == 200)
        #expect(try await sluice.terminate() == 0)
    }

    @Test func anIdempotencyKeyHoldsAcrossProcessesAndRestarts() async throws {
        let databaseURL = try await TestPostgres.makeDatabase()
        let root = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-idempotent")
        defer { try? FileManager.default.removeItem(atPath: root) }
        func arguments(_ name: String) -> [String] {
            ["--database-url", databaseURL, "--data-dir", "\(root)/\(name)", "--staging-dir", "\(root)/staging", "--ingest-workers", "0"]
        }
        var first = try SluiceProcess(serve: arguments("a"), environment: ["SLUICE_ADMIN_TOKEN": admin])
        let second = try SluiceProcess(serve: arguments("b"), environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await first.waitUntilReady()
        try await second.waitUntilReady()
        let key = try await createTenant(tenantYAML("once"), on: first.port)
        func send(_ port: UInt16, _ body: String) async throws -> TestHTTPResponse {
            try await TestHTTPClient(port: port).send("POST", "/api/v1/tenants/once/stream", headers: [
                ("Authorization", "Bearer \(key)"), ("Idempotency-Key", "order-42")], body: .bytes(Array(body.utf8)))
        }
        let body = #"{"sensor": "x", "at": 1, "value": 1}"# + "\n" + #"{"sensor": "y", "at": 1, "value": "high"}"#
        let answer = try await send(first.port, body)
        #expect(answer.status == 200, "\(answer.text)")
        let elsewhere = try await send(second.port, body)
        #expect(elsewhere.status == 200 && elsewhere.text == answer.text, "\(elsewhere.text)")
        #expect(try await first.terminate() == 0)
        first = try SluiceProcess(serve: arguments("a"), environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await first.waitUntilReady()
        let afterRestart = try await send(first.port, body)
        #expect(afterRestart.text == answer.text)
        let reused = try await send(second.port, #"{"sensor": "z", "at": 1, "value": 1}"#)
        #expect(reused.status == 422 && reused.text.contains("idempotency_key_reused"), "\(reused.text)")
        let connection = try PostgresConnection(connectionString: databaseURL)
        defer { connection.close() }
        #expect(try connection.query("SELECT count(*)::int AS n FROM sluice.stream_batches").first?.decode(Int.self, "n") == 1)
        #expect(try connection.query("SELECT count(*)::int AS n FROM once.readings").first?.decode(Int.self, "n") == 1)
        #expect(try await first.terminate() == 0)
        #expect(try await second.terminate() == 0)
    }
}
