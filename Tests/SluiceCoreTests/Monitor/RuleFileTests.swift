import Foundation
@testable import SluiceCore
import SluiceTestSupport
import Testing

/// Rule files: the issue's example loads as written; every problem is reported with its file and path.
@Suite struct RuleFileTests {
    static let example = """
        rules:
          - name: TenantRejectRatioHigh
            kind: threshold
            series: reject_ratio
            window: 5m
            op: ">"
            threshold: 0.2
            for: 0s
            scope: {tenants: ["*"]}
            labels: {severity: ticket}
            annotations: {summary: "{{ .tenant }} rejects {{ .value }} of its rows"}
          - name: StreamLatencyHigh
            kind: threshold
            series: latency_p95_seconds
            window: 1m
            op: ">"
            threshold: 0.5
            for: 30s
            scope: {tenants: [tenant-a]}
            labels: {severity: page}
            actions:
              firing: [{action: scale_up, by: 1}]
              resolved: [{action: scale_down, by: 1}]
          - name: IngestAvailability
            kind: slo
            series: availability
            objective: 0.995
            period: 30d
            labels: {team: ingest}
        """

    static func directory(rules: [String: String], notifications: String? = nil) throws -> String {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-rules")
        try FileManager.default.createDirectory(atPath: directory + "/rules", withIntermediateDirectories: true)
        for (name, text) in rules { try text.write(toFile: "\(directory)/rules/\(name)", atomically: true, encoding: .utf8) }
        if let notifications { try notifications.write(toFile: "\(directory)/notifications.yaml", atomically: true, encoding: .utf8) }
        return directory
    }

    @Test func theIssuesExampleLoadsAsWritten() throws {
        let loaded = try MonitorConfiguration.load(directory: try Self.directory(rules: ["ingest.yaml": Self.example]))
        #expect(loaded.rules.map(\.name) == ["TenantRejectRatioHigh", "StreamLatencyHigh", "IngestAvailability"])
        let reject = loaded.rules[0]
        #expect(reject.condition == .threshold(.init(series: .rejectRatio, kind: nil, window: 300, comparison: .greater, threshold: 0.2, noData: .ok)))
        #expect(reject.scope == .everyTenant && reject.labels == ["severity": "ticket"] && reject.pendingFor == 0)
        let latency = loaded.rules[1]
        #expect(latency.pendingFor == 30 && latency.scope == .tenants(["tenant-a"]))
        #expect(latency.firingActions == [.scaleUp(by: 1)] && latency.resolvedActions == [.scaleDown(by: 1)])
        guard case .objective(let objective) = loaded.rules[2].condition else { Issue.record("not an objective"); return }
        #expect(objective.objective == 0.995 && objective.period == 30 * 86_400 && objective.indicator == .availability)
        #expect(objective.burnWindows.map { [$0.long, $0.short] } == [[3600, 300], [21_600, 1800], [86_400, 7200], [259_200, 21_600]])
        #expect(objective.burnWindows.map(\.factor) == [14.4, 6, 3, 1])
        #expect(objective.burnWindows.map(\.severity) == ["page", "page", "ticket", "ticket"])
        #expect(loaded.route == NotificationRoute(receiver: MonitorConfiguration.streamManagerReceiver))
    }

    @Test func everyProblemIsReportedWithItsFileAndPath() throws {
        let directory = try Self.directory(rules: [
            "a.yaml": """
                rules:
                  - name: Bad Name
                    kind: threshold
                    series: nope
                    window: 90s
                    op: "~"
                    threshold: high
                    no_data: maybe
                    annotations: {summary: "{{ .secret }}"}
                    actions: {firing: [{action: explode}]}
                  - name: Objective
                    kind: slo
                    series: latency
                    latency_threshold: 7s
                    objective: 1.5
                """,
            "b.yml": "rules: [{name: TenantRejectRatioHigh, kind: other}]\n",
            "c.yaml": "rules: [{name: Dup, kind: threshold, series: reject_ratio, window: 1m, op: '>', threshold: 1}]\n",
            "d.yaml": "rules: [{name: Dup, kind: threshold, series: reject_ratio, window: 1m, op: '>', threshold: 1}]\n",
            "ignored.txt": "not yaml",
        ], notifications: "route: {receiver: pager}\n")
        do {
            _ = try MonitorConfiguration.load(directory: directory)
            Issue.record("a bad configuration loaded")
        } catch {
            #expect(error.code == "invalid_rules")
            let problems = error.details.joined(separator: "\n")
            for expected in ["a.yaml: rules[0].name", "a.yaml: rules[0].series: unknown series \"nope\"", "a.yaml: rules[0].window: must be whole minutes",
                             "a.yaml: rules[0].op", "a.yaml: rules[0].threshold", "a.yaml: rules[0].no_data",
                             "a.yaml: rules[0].annotations.summary: unknown placeholder {{ .secret }}", "a.yaml: rules[0].actions.firing[0]",
                             "a.yaml: rules[1].latency_threshold", "a.yaml: rules[1].objective", "b.yml: rules[0].kind",
                             "d.yaml: rule \"Dup\" is also defined in", "notifications.yaml: route: names the receiver \"pager\""] {
                #expect(problems.contains(expected), "missing \(expected) in\n\(problems)")
            }
        }
    }

    @Test func routesPickReceiversAsAlertmanagerDoes() throws {
        let directory = try Self.directory(rules: [:], notifications: """
            receivers: [{name: stream-manager}, {name: pager}, {name: tickets}, {name: audit}]
            route:
              receiver: tickets
              routes:
                - {matchers: ['tenant=~"tenant-.*"', 'sluice_audit!=""'], receiver: audit, continue: true}
                - matchers: [severity="page"]
                  receiver: pager
                  routes: [{matchers: ['alertname=~"Stream.*"'], receiver: stream-manager}]
            """)
        let route = try MonitorConfiguration.load(directory: directory).route
        #expect(route.receivers(for: ["severity": "ticket"]) == ["tickets"])
        #expect(route.receivers(for: ["severity": "page", "alertname": "IngestAvailability"]) == ["pager"])
        #expect(route.receivers(for: ["severity": "page", "alertname": "StreamLatencyHigh"]) == ["stream-manager"])
        #expect(route.receivers(for: ["severity": "page", "tenant": "tenant-a", "sluice_audit": "1"]) == ["audit", "pager"])
        #expect(route.receivers(for: ["tenant": "x-a", "sluice_audit": "1"]) == ["tickets"])
    }

    @Test func receiversAndGroupingReadAsAlertmanagerWritesThemAndEveryMistakeIsNamed() throws {
        let good = try Self.directory(rules: [:], notifications: """
            receivers:
              - name: mail
                email: {smarthost: "smtp.example:465", from: "Sluice <alerts@sluice.example>", to: "a@x.example, b@x.example",
                        auth_username: u, auth_password: p, subject: "{{ .Status }} {{ .GroupLabels.tenant }}", send_resolved: true}
              - name: hook
                webhook: {url: "https://hooks.example/a"}
            route: {receiver: mail, group_by: [tenant], group_wait: 0s, group_interval: 1m, repeat_interval: 2h,
                    routes: [{matchers: ['severity="page"'], receiver: hook, group_by: ["..."]}]}
            """)
        let configuration = try MonitorConfiguration.load(directory: good)
        guard case .email(let email)? = configuration.integrations.first else {
            Issue.record("no email receiver in \(configuration.integrations)")
            return
        }
        #expect(email.implicitTLS && email.requireTLS && email.sendResolved && email.to.map(\.address) == ["a@x.example", "b@x.example"])
        #expect(email.from == EmailAddress("Sluice <alerts@sluice.example>") && email.authUsername == "u")
        #expect(configuration.route.grouping == RouteGrouping(by: ["tenant"], wait: 0, interval: 60, repeatInterval: 7200))
        #expect(configuration.route.destinations(for: ["severity": "page"]).first?.grouping.by == ["..."])

        let bad = try Self.directory(rules: [:], notifications: """
            receivers:
              - {name: both, webhook: {url: "https://h.example"}, email: {smarthost: "s.example:25", from: a@b.example, to: c@d.example}}
              - name: mail
                email: {smarthost: "no-port", from: "not an address", to: ["ok@x.example", "bad\\r\\nBcc: x@y"],
                        subject: "{{ .Nope }}", auth_username: u}
              - {name: clear, email: {smarthost: "smtp.example:25", from: a@b.example, to: c@d.example, require_tls: false,
                                      auth_username: u, auth_password: p}}
            route: {receiver: mail, group_by: ["a-b"], group_wait: soon, group_interval: 0s}
            """)
        do {
            _ = try MonitorConfiguration.load(directory: bad)
            Issue.record("a bad notifications.yaml was loaded")
        } catch {
            let problems = error.details.joined(separator: "\n")
            for expected in ["receivers[0]: takes one integration", "email.smarthost: \"no-port\" is not host:port",
                             "email.from: \"not an address\" is not an email address", "email.to: \"bad\r\nBcc: x@y\" is not an email address",
                             "{{ .Nope }} is not a placeholder", "takes auth_username and auth_password together",
                             "route.group_by: \"a-b\" is not a label name", "route.group_wait: must be a duration",
                             "route.group_interval: must be a duration of at least 1s",
                             "receivers[2].email: sends auth_password in clear without TLS"] {
                #expect(problems.contains(expected), "missing \(expected) in\n\(problems)")
            }
        }
    }

    @Test func durationsAndTemplates() {
        #expect(RuleDuration.seconds("1h30m") == 5400 && RuleDuration.seconds("30d") == 2_592_000 && RuleDuration.seconds("45") == 45)
        #expect(RuleDuration.seconds("5x") == nil && RuleDuration.seconds("-1") == nil && RuleDuration.seconds("") == nil && RuleDuration.seconds("m") == nil)
        #expect(RuleDuration.text(5400) == "1h30m" && RuleDuration.text(300) == "5m" && RuleDuration.text(0) == "0s")
        let text = AnnotationTemplate.render("{{ .tenant }} at {{.value}} over {{ .threshold }} ({{ .labels.severity }}, {{ .name }})",
                                             tenant: "tenant-a", value: 0.256789, threshold: 0.2, name: "R", labels: ["severity": "page"])
        #expect(text == "tenant-a at 0.2568 over 0.2 (page, R)")
    }
}
