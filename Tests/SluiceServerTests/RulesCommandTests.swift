import Foundation
import SluiceTestSupport
import Testing

/// `sluice rules check DIR`, as operators run it: the shipped examples pass, a bad file fails with every problem.
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
}
