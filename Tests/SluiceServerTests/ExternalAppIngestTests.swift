import Foundation
import SluiceTestSupport
import Testing

/// Tenants whose ingest app is their own executable: its NDJSON output is validated and loaded like the
/// declarative app's; failures keep the app's stderr with the file's report.
@Suite struct ExternalAppIngestTests {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Tenant A's definition from `examples/`, with `app` (a YAML block) as its ingest app.
    private func tenantA(_ id: String, app: String, timeout: Int = 600) throws -> String {
        let example = try String(contentsOf: Self.repository.appendingPathComponent("examples/tenants/tenant-a.yaml"), encoding: .utf8)
        let appSection = try #require(example.range(of: "ingest_app:"))
        let head = example[..<appSection.lowerBound]
        return head.replacingOccurrences(of: "id: tenant-a", with: "id: \(id)")
            .replacingOccurrences(of: "timeout_seconds: 600", with: "timeout_seconds: \(timeout)") + app
    }

    /// Writes an executable shell script and returns its path.
    private func script(_ body: String) throws -> String {
        let path = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-app") + "/app.sh"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    private let csv = """
        PROVINCECODE,DEVICEID,IFINDEX,FRAME,SLOT,PORT,ONUINDEX,ONUID,TIME,SPEEDIN,SPEEDOUT
        hcm ,dev1,1,1,1,1,1,10,2026-01-01T00:00:00,2000,1000
        hcm,dev1,1,1,1,1,1,11,2026-01-01T00:00:00,-5,1000
        hcm,dev2,1,1,1,1,1,12,2026-01-01T00:00:00,fast,1000

        """

    @Test func theExampleAppWranglesAndItsOutputIsValidatedAndLoaded() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let app = Self.repository.appendingPathComponent("examples/apps/normalize-speeds.sh").path
            let key = try await sluice.createTenant(try tenantA("speeds", app: "ingest_app: {kind: external, command: [\(app)]}\n"),
                                                    contentType: "application/yaml")
            let result = try await sluice.uploadAndWait("speeds", key: key, name: "s.csv", csv)
            #expect(result.file["state"] as? String == "partial", "\(result.file)")
            #expect(result.file["rows_ingested"] as? Int == 1)
            #expect(result.file["rows_rejected"] as? Int == 1, "the negative row is dropped by the app, 'fast' rejected by Sluice")
            let row = try #require(try sluice.query("SELECT \"PROVINCECODE\" AS p, \"SPEEDIN\" AS s FROM speeds.analytics").first)
            #expect(try row.decode(String.self, "p") == "HCM")
            #expect(try row.decode(Double.self, "s") == 2.0)
            let reports = try await sluice.send("GET", "/api/v1/tenants/speeds/reports", token: key).json()
            let report = try #require((reports["reports"] as? [[String: Any]])?.first)
            #expect(report["app_kind"] as? String == "external")
        }
    }

    @Test func failuresTimeoutsAndGarbageFailTheFileWithNothingLoaded() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let failing = try script(#"echo '{"PROVINCECODE": "X"}'; echo "boom: cannot parse" >&2; exit 3"#)
            let slow = try script("echo started >&2; sleep 30")
            let garbage = try script("echo 'this is not json'")
            let environment = try script("env | sort >&2; printf '{\"PROVINCECODE\":\"%s\"}\\n' \"$CLIENT_ID\"")
            var keys: [String: String] = [:]
            for (id, command, timeout) in [("fails", failing, 600), ("slow", slow, 1), ("garbage", garbage, 600), ("env", environment, 600)] {
                keys[id] = try await sluice.createTenant(
                    try tenantA(id, app: "ingest_app: {kind: external, command: [\(command)]}\n", timeout: timeout),
                    contentType: "application/yaml")
            }
            let failed = try await sluice.uploadAndWait("fails", key: keys["fails"]!, name: "a.csv", csv)
            #expect(failed.file["state"] as? String == "failed")
            #expect((failed.file["error"] as? String)?.contains("exited with status 3: boom: cannot parse") == true, "\(failed.file)")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM fails.analytics").first?.decode(Int.self, "n") == 0)
            let report = try #require((try await sluice.send("GET", "/api/v1/tenants/fails/reports", token: keys["fails"]!)
                .json()["reports"] as? [[String: Any]])?.first)
            #expect((report["diagnostics"] as? String)?.contains("boom") == true, "\(report)")

            let timedOut = try await sluice.uploadAndWait("slow", key: keys["slow"]!, name: "a.csv", csv)
            #expect(timedOut.file["state"] as? String == "failed")
            #expect((timedOut.file["error"] as? String)?.contains("longer than 1 s") == true, "\(timedOut.file)")

            let junk = try await sluice.uploadAndWait("garbage", key: keys["garbage"]!, name: "a.csv", csv)
            #expect(junk.file["state"] as? String == "failed")
            #expect(junk.file["error"] as? String == "every row was rejected")

            // The app sees only the contract's environment: no database URL, no admin token.
            let env = try await sluice.uploadAndWait("env", key: keys["env"]!, name: "a.csv", csv)
            let envReport = try #require((try await sluice.send("GET", "/api/v1/tenants/env/reports", token: keys["env"]!)
                .json()["reports"] as? [[String: Any]])?.first)
            let seen = (envReport["diagnostics"] as? String ?? "").split(separator: "\n").map { $0.prefix { $0 != "=" } }
            #expect(Set(seen) == ["CLIENT_ID", "HOME", "INPUT_PATH", "LANG", "PATH", "PWD", "SOURCE_PATH"], "\(seen)")
            #expect(env.file["rows_rejected"] as? Int == 1)

            let metrics = try await sluice.client.get("/metrics").text
            #expect(metrics.contains(#"sluice_ingest_app_runs_total{tenant="fails",outcome="failed"} 1"#))
            #expect(metrics.contains(#"sluice_ingest_app_runs_total{tenant="slow",outcome="timeout"} 1"#))
            #expect(metrics.contains(#"sluice_ingest_app_runs_total{tenant="garbage",outcome="ok"} 1"#))
        }
    }

    /// An app may run up to its timeout: meanwhile it holds no store connection, no open transaction and not
    /// the tenant's lock (other work of the tenant and the pool are not held up by it).
    @Test func theAppRunsBeforeTheLoadTransactionOpens() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            // The app sees its staging directory and the system's, nothing else: the signals and the example go there.
            let source = sluice.dataDirectory + "/staging/patient"
            let (marker, release) = (source + "/running", source + "/release")
            let app = try script(#"touch "$SOURCE_PATH/running"; while [ ! -e "$SOURCE_PATH/release" ]; do sleep 0.05; done; exec "$SOURCE_PATH/normalize.sh""#)
            let key = try await sluice.createTenant(try tenantA("patient", app: "ingest_app: {kind: external, command: [\(app)]}\n"),
                                                    contentType: "application/yaml")
            try FileManager.default.copyItem(atPath: Self.repository.appendingPathComponent("examples/apps/normalize-speeds.sh").path,
                                             toPath: source + "/normalize.sh")
            let id = try await sluice.upload("patient", key: key, name: "s.csv", csv)
            let deadline = ContinuousClock.now + .seconds(60)
            while !FileManager.default.fileExists(atPath: marker) {
                guard ContinuousClock.now < deadline else { throw TestClientError("the app did not start") }
                try await Task.sleep(for: .milliseconds(20))
            }
            // Before, the ingest's transaction sat idle, holding the tenant's lock, for as long as the app ran.
            let idle = try sluice.query("""
                SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND state LIKE 'idle in transaction%'
                """).first?.decode(Int.self, "n")
            let lockFree = try sluice.query("SELECT pg_try_advisory_xact_lock(hashtextextended('sluice.ingest:patient', 0)) AS free")
                .first?.decode(Bool.self, "free")
            _ = FileManager.default.createFile(atPath: release, contents: nil)
            #expect(idle == 0, "a transaction is open while the app runs")
            #expect(lockFree == true, "the tenant's lock is held while the app runs")
            let file = try await sluice.finished("patient", id, key: key)
            #expect(file["state"] as? String == "partial", "\(file)")
            #expect(file["rows_ingested"] as? Int == 1)
        }
    }
}
