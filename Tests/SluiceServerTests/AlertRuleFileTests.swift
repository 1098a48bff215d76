import Foundation
@testable import SluiceCore
import SluiceTestSupport
import Testing

/// The Prometheus rule files in `alerts/`: `promtool check rules` clean, their `promtool test rules` unit tests
/// pass, every alert carries a severity, a summary, a description and a runbook_url naming a paragraph of
/// alerts/README.md, and every alert has a firing and a quiet test case.
@Suite struct AlertRuleFileTests {
    private static var alerts: String { SluiceProcess.packageRoot + "/alerts" }

    private static func files(_ directory: String, suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }.sorted().map { directory + "/" + $0 }
    }

    private static func yaml(_ path: String) throws -> JSONValue {
        try TenantDefinitionParser.tree(Array(try Data(contentsOf: URL(fileURLWithPath: path))), format: .yaml)
    }

    /// Every alerting rule of the rule files: its name, labels and annotations.
    private static func alertingRules() throws -> [(name: String, labels: [String: String], annotations: [String: String])] {
        var found: [(String, [String: String], [String: String])] = []
        for file in try files(alerts, suffix: ".rules.yaml") {
            guard case .object(let root) = try yaml(file), case .array(let groups)? = root["groups"] else { continue }
            for case .object(let group) in groups {
                guard case .array(let rules)? = group["rules"] else { continue }
                for case .object(let rule) in rules {
                    guard case .string(let name)? = rule["alert"] else { continue }
                    found.append((name, strings(rule["labels"]), strings(rule["annotations"])))
                }
            }
        }
        return found
    }

    private static func strings(_ value: JSONValue?) -> [String: String] {
        guard case .object(let members)? = value else { return [:] }
        return members.compactMapValues { if case .string(let text) = $0 { text } else { nil } }
    }

    @Test func promtoolChecksTheRulesAndTheirUnitTestsPass() throws {
        let rules = try Self.files(Self.alerts, suffix: ".rules.yaml")
        #expect(rules.count == 2)
        let check = try Promtool.run(["check", "rules"] + rules)
        #expect(check.status == 0, "\(check.output)")
        let tests = try Self.files(Self.alerts + "/tests", suffix: ".test.yaml")
        #expect(!tests.isEmpty)
        let run = try Promtool.run(["test", "rules"] + tests)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.components(separatedBy: "SUCCESS").count - 1 == tests.count, "\(run.output)")
    }

    @Test func everyAlertIsDocumentedAndTestedFiringAndQuiet() throws {
        let rules = try Self.alertingRules()
        #expect(rules.count >= 18)
        let readme = try String(contentsOfFile: Self.alerts + "/README.md", encoding: .utf8)
        let anchors = Set(readme.split(separator: "\n").filter { $0.hasPrefix("## ") }.map { $0.dropFirst(3).lowercased() })
        for rule in rules {
            #expect(["page", "ticket"].contains(rule.labels["severity"] ?? ""), "\(rule.name) has no severity")
            #expect(!(rule.annotations["summary"] ?? "").isEmpty && !(rule.annotations["description"] ?? "").isEmpty, "\(rule.name)")
            let runbook = rule.annotations["runbook_url"] ?? ""
            #expect(runbook.hasPrefix("alerts/README.md#") && anchors.contains(String(runbook.dropFirst("alerts/README.md#".count))),
                    "\(rule.name): \(runbook) names no paragraph of alerts/README.md")
        }
        // Each alert's test cases: with expected alerts (firing) and without (quiet).
        var firing: Set<String> = []
        var quiet: Set<String> = []
        for file in try Self.files(Self.alerts + "/tests", suffix: ".test.yaml") {
            guard case .object(let root) = try Self.yaml(file), case .array(let tests)? = root["tests"] else { continue }
            for case .object(let test) in tests {
                guard case .array(let cases)? = test["alert_rule_test"] else { continue }
                for case .object(let testCase) in cases {
                    guard case .string(let name)? = testCase["alertname"] else { continue }
                    if case .array(let expected)? = testCase["exp_alerts"], !expected.isEmpty { firing.insert(name) } else { quiet.insert(name) }
                }
            }
        }
        for name in Set(rules.map(\.name)) {
            #expect(firing.contains(name), "\(name) has no firing test case")
            #expect(quiet.contains(name), "\(name) has no quiet test case")
        }
    }
}
