import Foundation
import SluiceTestSupport
import Testing

/// Alert notifications end to end, through `notifications.yaml`: a tenant's all-bad file fires a threshold
/// alert that arrives by webhook (Alertmanager's payload) and by email (a real SMTP server), then good files
/// resolve it and both receivers are told; every attempt is in the delivery log.
@Suite struct NotificationEndToEndTests {
    private static let admin = InProcessSluice.adminToken

    @Test func aFailingIngestionFiresByWebhookAndEmailAndGoodFilesResolveIt() async throws {
        let hook = try WebhookSink()
        let smtp = try await SMTPSink()
        let directory = try MonitorAPITests.configDirectory(rules: """
            rules:
              - {name: RejectsHigh, kind: threshold, series: reject_ratio, path: batch, window: 1m, op: ">", threshold: 0.5,
                 labels: {severity: ticket}, annotations: {summary: "{{ .tenant }} rejects {{ .value }} of its rows"}}
            """)
        try """
            receivers:
              - name: chat
                webhook: {url: "\(hook.url)/chat", signature_secret: s3cret}
              - name: mail
                email: {smarthost: "\(smtp.smarthost)", require_tls: false, from: "Sluice <alerts@sluice.example>",
                        to: "oncall@example.com", send_resolved: true}
            route:
              receiver: stream-manager
              group_by: [alertname, tenant]
              group_wait: 1s
              group_interval: 1s
              routes:
                - {matchers: ['severity="ticket"'], receiver: chat, continue: true}
                - {matchers: ['severity="ticket"'], receiver: mail}
            """.write(toFile: directory + "/notifications.yaml", atomically: true, encoding: .utf8)
        try await InProcessSluice.with(configDirectory: directory, ingestWorkers: 1, configure: {
            $0.monitor.interval = .milliseconds(500)
            $0.externalURL = "http://sluice.example:8080"
        }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("e2e-a"), contentType: "application/yaml")
            let bad = "sensor,at,value,note\n" + (0..<20).map { "s\($0),\(1_700_000_000_000 + $0),not-a-number," }.joined(separator: "\n")
            let failed = try await sluice.uploadAndWait("e2e-a", key: key, name: "bad.csv", bad)
            #expect(failed.file["state"] as? String == "failed" || failed.file["state"] as? String == "partial")

            // Windows are complete minutes: the bad minute is judged once it is over.
            try await waitUntil("the alert arrives by webhook and by email", timeout: .seconds(240)) {
                !hook.requests("chat").isEmpty && !smtp.messages.isEmpty
            }
            let firing = try #require(hook.requests("chat").first).json
            #expect(firing["status"] as? String == "firing" && firing["groupKey"] as? String == #"{}/{severity="ticket"}:{alertname="RejectsHigh", tenant="e2e-a"}"#)
            let alert = try #require((firing["alerts"] as? [[String: Any]])?.first)
            #expect((alert["labels"] as? [String: String])?["tenant"] == "e2e-a")
            #expect((alert["annotations"] as? [String: String])?["summary"] == "e2e-a rejects 1 of its rows")
            let email = try #require(smtp.messages.first)
            #expect(email.header("Subject") == "[FIRING:1] RejectsHigh e2e-a")
            #expect(email.body.contains("summary = e2e-a rejects 1 of its rows") && email.body.contains("http://sluice.example:8080/api/v1/alerts/history"))

            // Good files from now on: the next complete minute rejects nothing, and the alert resolves.
            var sent = 0
            try await waitUntil("the resolution arrives by webhook and by email", timeout: .seconds(240), interval: .seconds(1)) {
                sent += 1
                _ = try await sluice.upload("e2e-a", key: key, name: "good-\(sent).csv",
                                            "sensor,at,value,note\ngood-\(sent),\(1_700_000_000_000 + sent),1.5,\n")
                let resolvedHook = hook.requests("chat").contains { $0.json["status"] as? String == "resolved" }
                let resolvedMail = smtp.messages.contains { $0.header("Subject") == "[RESOLVED] RejectsHigh e2e-a" }
                return resolvedHook && resolvedMail
            }
            #expect(hook.requests("chat").filter { $0.json["status"] as? String == "firing" }.count == 1, "notified once while firing")
            let attempts = try await sluice.send("GET", "/api/v1/notifications", token: Self.admin).json()["attempts"] as? [[String: Any]] ?? []
            #expect(Set(attempts.filter { $0["outcome"] as? String == "delivered" }.compactMap { $0["receiver"] as? String }) == ["chat", "mail"])
            #expect(attempts.contains { $0["receiver"] as? String == "mail" && $0["smtp_reply"] as? Int == 250 })
        }
        await hook.stop()
        try await smtp.stop()
    }
}
