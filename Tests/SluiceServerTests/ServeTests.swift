import Foundation
import SluiceCompression
import SluiceStore
import SluiceTestSupport
import Testing

/// `sluice serve` as a real process on its embedded PostgreSQL, probed over loopback.
@Suite(.serialized) struct ServeTests {
    /// Flags that cannot work together are refused before anything starts, with a message and exit status 64.
    @Test func contradictoryFlagsAreRefused() async throws {
        let sluice = try SluiceProcess(serve: ["--ingest-workers", "9", "--store-connections", "10"])
        let process = sluice.process
        try await onThread { process.waitUntilExit() }
        #expect(process.terminationStatus == 64)
        #expect(sluice.log.contains("--store-connections (10) must be at least --ingest-workers + 2 (11)"), "\(sluice.log)")
    }

    @Test func healthAndReadinessFollowTheEmbeddedStore() async throws {
        let dataDirectory = try TestPostgres.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let admin = "store-outage-admin"
        let sluice = try SluiceProcess(serve: ["--data-dir", dataDirectory], environment: ["SLUICE_ADMIN_TOKEN": admin])
        try await sluice.waitUntilReady()
        let created = try await sluice.client.send("POST", "/api/v1/tenants", headers: [
            ("Authorization", "Bearer \(admin)"), ("Content-Type", "application/yaml")], body: .bytes(Array(tenantYAML("acme").utf8)))
        let key = try #require(try created.json()["api_key"] as? String, "\(created.text)")
        func upload() async throws -> TestHTTPResponse {
            try await sluice.client.send("POST", "/api/v1/tenants/acme/files?name=a.csv", headers: [("Authorization", "Bearer \(key)")],
                                         body: .bytes(Array("sensor,at,value,note\ns1,1700000000000,1.5,n\n".utf8)))
        }

        let health = try await sluice.client.get("/healthz")
        #expect(health.status == 200)
        let ready = try await sluice.client.get("/readyz")
        #expect(ready.status == 200)
        #expect(try ready.json()["status"] as? String == "ready")

        // Stop PostgreSQL underneath the running service.
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: dataDirectory))
        try await cluster.stop()
        let down = try await sluice.client.get("/readyz")
        #expect(down.status == 503)
        #expect(down.errorCode == "not_ready")
        #expect((try down.json()["failing"] as? [String])?.contains("store") == true)
        #expect(try await sluice.client.get("/healthz").status == 200)
        // Every request that needs the store is told to come back, never answered 500, and nothing is accepted.
        for response in [try await upload(),
                         try await sluice.client.get("/api/v1/tenants", headers: [("Authorization", "Bearer \(admin)")]),
                         try await sluice.client.get("/api/v1/tenants/acme/files", headers: [("Authorization", "Bearer \(key)")])] {
            #expect(response.status == 503, "\(response.text)")
            #expect(response.errorCode == "store_unavailable")
            #expect(response.header("Retry-After") == "5")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDirectory)/staging/acme/in")) ?? []).isEmpty)

        _ = try await cluster.start()
        let deadline = ContinuousClock.now + .seconds(30)
        var recovered = try await sluice.client.get("/readyz")
        while recovered.status != 200 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            recovered = try await sluice.client.get("/readyz")
        }
        #expect(recovered.status == 200)
        let accepted = try await upload()
        #expect(accepted.status == 201, "\(accepted.text)")

        #expect(try await sluice.terminate() == 0)
        #expect(!cluster.isRunning, "sluice serve stops its embedded cluster on exit")
        #expect(sluice.log.contains("shutting down"))
    }

    @Test func metricsPassPromtoolAndNegotiateFormatAndGzip() async throws {
        let dataDirectory = try TestPostgres.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let sluice = try SluiceProcess(serve: ["--data-dir", dataDirectory, "--metrics-max-age", "30"])
        try await sluice.waitUntilReady()
        _ = try await sluice.client.get("/nope")

        let plain = try await sluice.client.get("/metrics")
        #expect(plain.status == 200)
        #expect(plain.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds",
                     "process_start_time_seconds", "sluice_build_info{", "sluice_http_requests_total{",
                     "sluice_http_request_duration_seconds_bucket{", "sluice_http_requests_in_flight",
                     "sluice_store_pool_connections", "sluice_store_pool_connections_in_use", "sluice_store_pool_waiters"] {
            #expect(plain.text.contains(name), "missing \(name)")
        }
        let check = try Promtool.run(["check", "metrics"], input: plain.body)
        #expect(check.status == 0 && check.output.isEmpty, "promtool: \(check.output)")

        let zipped = try await sluice.client.get("/metrics", headers: [("Accept-Encoding", "gzip")])
        #expect(zipped.header("Content-Encoding") == "gzip")
        #expect(try Gzip.decompress(zipped.body, maximumSize: 16 << 20) == plain.body)

        let open = try await sluice.client.get("/metrics", headers: [("Accept", "application/openmetrics-text; version=1.0.0")])
        #expect(open.header("Content-Type")?.hasPrefix("application/openmetrics-text; version=1.0.0") == true)
        #expect(open.text.hasSuffix("# EOF\n"))
        #expect(try await sluice.terminate() == 0)
    }

    @Test func twoInstancesStartingTogetherMigrateAndConfigureOnce() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            let url = try await cluster.start()
            try await startTwoInstances(databaseURL: url)
        }
    }

    private func startTwoInstances(databaseURL url: String) async throws {
        let dataDirectory = try TestPostgres.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let shared = ["--database-url", url, "--staging-dir", dataDirectory + "/staging", "--config", "examples"]
        let first = try SluiceProcess(serve: shared + ["--data-dir", dataDirectory + "/a"])
        let second = try SluiceProcess(serve: shared + ["--data-dir", dataDirectory + "/b"])
        try await first.waitUntilReady()
        try await second.waitUntilReady()

        let connection = try PostgresConnection(connectionString: url)
        defer { connection.close() }
        let versions = try connection.query("SELECT version, count(*)::int AS n FROM sluice.schema_migrations GROUP BY version")
        #expect(!versions.isEmpty)
        for row in versions { #expect(try row.decode(Int.self, "n") == 1) }
        let instances = try connection.query("SELECT count(*)::int AS n FROM sluice.instances")
        #expect(try instances.first?.decode(Int.self, "n") == 2)
        // Both loaded the same configuration directory; each tenant exists once.
        let tenants = try connection.query("SELECT count(*)::int AS n FROM sluice.tenants")
        let examples = try FileManager.default.contentsOfDirectory(atPath: "examples/tenants").filter { $0.hasSuffix(".yaml") }
        #expect(try tenants.first?.decode(Int.self, "n") == examples.count && examples.count == 4)

        #expect(try await first.terminate() == 0)
        #expect(try await second.terminate() == 0)
    }

    @Test func badFlagsFailWithAMessage() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        process.arguments = ["serve", "--listen", "not-an-address"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(output.contains("listen address"))
    }
}
