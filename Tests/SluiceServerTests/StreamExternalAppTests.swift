import Foundation
import SluiceTestSupport
import Testing

/// Tenants whose stream app is their own long-running executable, in its sandbox: one answer line per
/// message; crashes, hangs and garbage restart it, redelivering what it had not answered, and a message that
/// keeps failing it is rejected as poison.
@Suite struct StreamExternalAppTests {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A stream app passing messages through, misbehaving on the markers in their `note`.
    private static let markedApp = #"""
        while IFS= read -r line; do
          case "$line" in
            *crash-once*) if [ ! -e "$SOURCE_PATH/crashed" ]; then touch "$SOURCE_PATH/crashed"; exit 3; fi ;;
            *garbage-once*) if [ ! -e "$SOURCE_PATH/garbled" ]; then touch "$SOURCE_PATH/garbled"; printf 'not json\n'; continue; fi ;;
            *poison*) exit 3 ;;
            *hang*) sleep 3600 ;;
            *drop*) printf '{"_sluice_drop": "unwanted"}\n'; continue ;;
          esac
          printf '%s\n' "$line"
        done
        """#

    private func script(_ body: String) throws -> String {
        let path = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-stream-app") + "/app.sh"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    private static func message(_ sensor: String, note: String = "ok") -> String {
        #"{"sensor": "\#(sensor)", "at": 1, "value": 1.5, "note": "\#(note)"}"#
    }

    private func tenant(_ id: String, app: String) -> String {
        tenantYAML(id) + "\nstream_app: {kind: external, command: [\(app)]}\n"
    }

    private func restarts(_ sluice: InProcessSluice, _ tenant: String) async throws -> Double? {
        metricValue(try await sluice.client.get("/metrics").text, "sluice_stream_app_restarts_total{tenant=\"\(tenant)\"}")
    }

    @Test func theExampleAppReshapesMessagesAndDropsWhatItCannotUse() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await Self.createExample(sluice, "tenant-c", app: "reshape-readings.sh")
            let body = [
                #"{"device": {"id": "s-17", "site": "hall"}, "reading": {"t": 1700000000000, "fahrenheit": 70.7}}"#,
                #"{"device": {"id": "s-18"}, "reading": {}}"#,
                "garbage",
                #"{"device": {"id": "s-19"}, "reading": {"t": 1700000000000, "fahrenheit": 32}}"#,
            ].joined(separator: "\n")
            let response = try await StreamTests.post(sluice, "tenant-c", key: key, body)
            #expect(response.status == 200, "\(response.text)")
            let answer = try response.json()
            #expect(answer["accepted"] as? Int == 2 && answer["rejected"] as? Int == 2)
            let rejects = try #require(answer["rejects"] as? [[String: Any]])
            #expect(rejects.map { $0["index"] as? Int } == [1, 2] && rejects.allSatisfy { $0["reason"] as? String == "app_drop" })
            #expect(rejects.map { $0["message"] as? String } == ["no temperature reading", "not JSON"])
            let rows = try sluice.query("SELECT sensor, celsius, note FROM \"tenant-c\".readings ORDER BY sensor")
            #expect(try rows.map { try $0.decode(String.self, "sensor") } == ["s-17", "s-19"])
            #expect(try rows.map { try $0.decode(Double.self, "celsius") } == [21.5, 0])
            #expect(try rows.first?.decode(String.self, "note") == "hall")
            let instances = try await sluice.send("GET", "/api/v1/tenants/tenant-c/stream/instances", token: key).json()
            let instance = try #require((instances["instances"] as? [[String: Any]])?.first)
            #expect(instance["kind"] as? String == "external" && instance["pid"] is Int)
        }
    }

    @Test func theSecondExampleAppAddsEachMachinesLine() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await Self.createExample(sluice, "tenant-d", app: "enrich-readings.sh")
            let body = [#"{"machine":"m-7","at":1700000000000,"rpm":1450}"#, #"{"at":1700000000000,"rpm":0}"#,
                        #"{"machine":"m-12","at":1700000000001,"rpm":900.5}"#].joined(separator: "\n")
            let response = try await StreamTests.post(sluice, "tenant-d", key: key, body)
            let answer = try response.json()
            #expect(response.status == 200 && answer["accepted"] as? Int == 2 && answer["rejected"] as? Int == 1, "\(answer)")
            #expect((answer["rejects"] as? [[String: Any]])?.first?["message"] as? String == "no machine id")
            let rows = try sluice.query("SELECT machine, line, rpm FROM \"tenant-d\".machine_readings ORDER BY machine")
            #expect(try rows.map { try $0.decode(String.self, "machine") } == ["m-12", "m-7"])
            #expect(try rows.map { try $0.decode(String.self, "line") } == ["line-1", "line-4"])
            #expect(try rows.first?.decode(Double.self, "rpm") == 900.5)
        }
    }

    /// Creates the example tenant `id` through the API, its stream app `app` given by absolute path.
    private static func createExample(_ sluice: InProcessSluice, _ id: String, app: String) async throws -> String {
        let example = try String(contentsOf: repository.appendingPathComponent("examples/tenants/\(id).yaml"), encoding: .utf8)
        let path = repository.appendingPathComponent("examples/apps/\(app)").path
        return try await sluice.createTenant(example.replacingOccurrences(of: "[apps/\(app)]", with: "[\(path)]"), contentType: "application/yaml")
    }

    @Test func aCrashRestartsTheAppAndItsUnansweredMessagesAreRedeliveredOnce() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenant("crashy", app: try script(Self.markedApp)), contentType: "application/yaml")
            let body = (0..<5).map { Self.message("m\($0)", note: $0 == 2 ? "crash-once" : "ok") }.joined(separator: "\n")
            let response = try await StreamTests.post(sluice, "crashy", key: key, body)
            #expect(response.status == 200 && (response.member("accepted") as? Int) == 5, "\(response.text)")
            let rows = try sluice.query("SELECT count(*)::int AS n, count(DISTINCT sensor)::int AS d FROM crashy.readings").first
            #expect(try rows?.decode(Int.self, "n") == 5 && rows?.decode(Int.self, "d") == 5)
            let restarted = try await restarts(sluice, "crashy")
            #expect(restarted == 1)
            let instances = try await sluice.send("GET", "/api/v1/tenants/crashy/stream/instances", token: key).json()
            #expect((instances["instances"] as? [[String: Any]])?.first?["restarts"] as? Int == 1)
        }
    }

    @Test func poisonMessagesDropsAndGarbageAreSortedOutWithoutBlockingTheRest() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenant("mixed", app: try script(Self.markedApp)), contentType: "application/yaml")
            let notes = ["ok", "drop", "garbage-once", "poison", "ok"]
            let body = notes.enumerated().map { Self.message("p\($0.offset)", note: $0.element) }.joined(separator: "\n")
            let response = try await StreamTests.post(sluice, "mixed", key: key, body)
            #expect(response.status == 200, "\(response.text)")
            let answer = try response.json()
            #expect(answer["accepted"] as? Int == 3 && answer["rejected"] as? Int == 2, "\(answer)")
            let rejects = try #require(answer["rejects"] as? [[String: Any]])
            #expect(rejects.map { $0["index"] as? Int } == [1, 3])
            #expect(rejects.map { $0["reason"] as? String } == ["app_drop", "app_poison"])
            let restarted = try await restarts(sluice, "mixed")
            #expect(restarted == 4, "one for the garbage, three for the poison message")
            let sensors = try sluice.query("SELECT sensor FROM mixed.readings ORDER BY sensor").map { try $0.decode(String.self, "sensor") }
            #expect(sensors == ["p0", "p2", "p4"])
            let stored = try sluice.query("SELECT reason FROM sluice.rejects WHERE tenant_id = 'mixed' ORDER BY reason")
            #expect(try stored.map { try $0.decode(String.self, "reason") } == ["app_drop", "app_poison"])
            // The app keeps serving.
            let next = try await StreamTests.post(sluice, "mixed", key: key, Self.message("later"))
            #expect(next.status == 200 && (next.member("accepted") as? Int) == 1)
        }
    }

    /// Processes whose command line names `path` (a sandbox's bwrap processes name their program).
    private static func processes(naming path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(path)
        }
    }

    @Test func aHungAppIsKilledAndTheMessageItHangsOnIsRejected() async throws {
        let app = try script(Self.markedApp)
        try await InProcessSluice.with(configure: {
            $0.stream.appAnswerTimeout = .seconds(2)
            $0.stream.appStartAllowance = .seconds(3)
        }) { sluice in
            let key = try await sluice.createTenant(tenant("hung", app: app), contentType: "application/yaml")
            let body = [Self.message("h0"), Self.message("h1", note: "hang"), Self.message("h2")].joined(separator: "\n")
            let response = try await StreamTests.post(sluice, "hung", key: key, body)
            #expect(response.status == 200, "\(response.text)")
            let answer = try response.json()
            #expect(answer["accepted"] as? Int == 2)
            #expect((answer["rejects"] as? [[String: Any]])?.first?["reason"] as? String == "app_poison")
            #expect((answer["rejects"] as? [[String: Any]])?.first?["index"] as? Int == 1)
            // Three timeouts on the hanging message (a loaded machine may add one for a slow start).
            #expect(try await restarts(sluice, "hung") ?? 0 >= 3)
        }
        // Every sandbox it ran in is gone, the killed ones (hanging in `sleep`) too.
        try await waitUntil("the app's sandboxes are gone", timeout: .seconds(30), interval: .milliseconds(100)) {
            Self.processes(naming: app).isEmpty
        }
    }

    @Test func anAppThatCannotStartFailsItsRequestsWithAClearError() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenant("missing", app: "/nonexistent/app"), contentType: "application/yaml")
            let response = try await StreamTests.post(sluice, "missing", key: key, Self.message("x"))
            #expect(response.status == 503, "\(response.text)")
            #expect((try response.json()["error"] as? [String: Any])?["code"] as? String == "app_not_found")
        }
    }
}
