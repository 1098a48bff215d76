import Foundation
import SluiceTestSupport
import Testing

/// `sluice rules check DIR`, as operators run it: the shipped examples pass, a bad file fails with every problem;
/// and a running `sluice serve` reloads its rules on SIGHUP.
@Suite struct RulesCommandTests {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private func check(_ directory: String) async throws -> (status: Int32, output: String) {
        try await onThread { try TestTool.run(SluiceProcess.executable, ["rules", "check", directory], installedBy: "swift build") }
    }

    @Test func theExamplesPassAndABadFileFailsWithEveryProblem() async throws {
        let examples = try await check(Self.repository.appendingPathComponent("examples").path)
        #expect(examples.status == 0 && examples.output.contains("SUCCESS: 5 rules (3 threshold, 2 slo)"), "\(examples.output)")

        let directory = try MonitorAPITests.configDirectory(rules: """
            rules:
              - {name: A, kind: threshold, series: reject_ratio, window: 10s, op: ">", threshold: 1}
              - {name: B, kind: slo, series: availability, objective: 1.5}
            """)
        let bad = try await check(directory)
        #expect(bad.status == 1, "\(bad.output)")
        #expect(bad.output.contains("rules.yaml: rules[0].window: must be whole minutes"), "\(bad.output)")
        #expect(bad.output.contains("rules.yaml: rules[1].objective: must be between 0 and 1"), "\(bad.output)")
        #expect(try await check(directory + "/missing").status == 1)
    }

    @Test func serveReloadsItsRulesOnSIGHUP() async throws {
        let directory = try MonitorAPITests.configDirectory(
            rules: "rules: [{name: One, kind: threshold, series: reject_ratio, window: 1m, op: '>', threshold: 0.5}]\n")
        let sluice = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(), "--data-dir", directory + "/data",
                                               "--config", directory], environment: ["SLUICE_ADMIN_TOKEN": "admin"])
        do {
            try await sluice.waitUntilReady()
            func rules() async throws -> Double? {
                metricValue(try await sluice.client.get("/metrics").text, "sluice_rules{kind=\"threshold\"}")
            }
            #expect(try await rules() == 1)
            func failures(_ rule: String) async throws -> Double? {
                metricValue(try await sluice.client.get("/metrics").text, "sluice_rule_evaluation_failures_total{rule=\"\(rule)\"}")
            }
            #expect(try await failures("One") == 0, "a loaded rule's failures count from 0")
            try "rules: [{name: Two, kind: threshold, series: reject_ratio, window: 1m, op: '>', threshold: 0.5},\n  {name: Three, kind: slo, series: availability, objective: 0.99}]\n"
                .write(toFile: directory + "/rules/rules.yaml", atomically: true, encoding: .utf8)
            kill(sluice.process.processIdentifier, SIGHUP)
            try await waitUntil("SIGHUP loads the new rules", timeout: .seconds(60)) {
                metricValue(try await sluice.client.get("/metrics").text, "sluice_rules{kind=\"slo\"}") == 1
            }
            let (two, three, one) = (try await failures("Two"), try await failures("Three"), try await failures("One"))
            #expect(two == 0 && three == 0 && one == nil, "the new rules count from 0, a rule no longer loaded has no series")
            // A bad file on SIGHUP is refused; the rules in force stay.
            try "rules: [{name: Bad}]\n".write(toFile: directory + "/rules/rules.yaml", atomically: true, encoding: .utf8)
            kill(sluice.process.processIdentifier, SIGHUP)
            try await waitUntil("the refused reload shows", timeout: .seconds(60)) {
                metricValue(try await sluice.client.get("/metrics").text, "sluice_rules_last_reload_success") == 0
            }
            let inForce = try await sluice.client.send("GET", "/api/v1/rules", headers: [("Authorization", "Bearer admin")]).json()["rules"]
            #expect((inForce as? [[String: Any]])?.map { $0["name"] as? String } == ["Two", "Three"], "the refused file changed nothing")
            #expect(try await sluice.terminate() == 0)
        } catch {
            _ = try? await sluice.terminate()
            throw error
        }
    }
}
