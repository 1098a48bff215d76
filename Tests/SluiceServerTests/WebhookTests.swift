import Crypto
import Foundation
import Logging
import SluiceCore
import SluiceMetrics
import SluiceOutbound
import SluiceStore
import SluiceTestSupport
import Synchronization
import Testing

/// Webhook receivers over libcurl to a real HTTP server on loopback: Alertmanager's v4 payload field by field,
/// signed; retries of 5xx until delivered once, none of a 400; a silent receiver times out without delaying
/// another; and end to end from a rule through `notifications.yaml`.
@Suite struct WebhookTests {
    private static let ten = Date(timeIntervalSince1970: 1_796_551_200)

    private func receiver(_ sink: WebhookSink, _ name: String, pool: PostgresConnectionPool,
                          configure: (inout WebhookReceiver.Configuration) -> Void = { _ in }) -> WebhookReceiver {
        var configuration = WebhookReceiver.Configuration(name: name, url: "\(sink.url)/\(name)")
        configuration.retry.initialBackoff = .milliseconds(20)
        configuration.retry.deadline = .seconds(60)
        configure(&configuration)
        return WebhookReceiver(configuration: configuration, http: CurlHTTPClient(), log: DeliveryLog(pool: pool),
                               metrics: NotificationMetrics(registry: MetricsRegistry()), externalURL: "http://sluice.example:8080",
                               logger: Logger(label: "test"))
    }

    private func notification(_ status: AlertNotification.Status = .firing, tenant: String = "tenant-a") -> AlertNotification {
        AlertNotification(status: status, labels: ["alertname": "RejectsHigh", "tenant": tenant, "severity": "ticket"],
                          annotations: ["summary": "\(tenant) rejects 0.5"], startsAt: Self.ten,
                          endsAt: status == .resolved ? Self.ten.addingTimeInterval(90) : nil, value: 0.5, source: "alert:RejectsHigh", actions: [])
    }

    /// `notification`'s group of one, grouped by alert name and tenant.
    private func group(_ notification: AlertNotification, receiver: String) -> AlertGroup {
        let labels = notification.labels.filter { ["alertname", "tenant"].contains($0.key) }
        return AlertGroup(receiver: receiver, key: "{}:{alertname=\"RejectsHigh\", tenant=\"\(notification.tenant ?? "")\"}", labels: labels,
                          alerts: [notification])
    }

    private func pool() async throws -> PostgresConnectionPool {
        let pool = try await TestPostgres.makePool()
        _ = try await PlatformSchema.migrator.migrate(using: pool)
        return pool
    }

    @Test func thePayloadIsAlertmanagersVersion4FieldForFieldAndSigned() async throws {
        let sink = try WebhookSink()
        let pool = try await pool()
        let hook = receiver(sink, "hook", pool: pool) {
            $0.signatureSecret = "s3cret"
            $0.bearerToken = "hook-token"
        }
        #expect(try await hook.deliver(group(notification(), receiver: "hook"), whenDone: { _ in }) == .queued)
        #expect(try await hook.deliver(group(notification(.resolved), receiver: "hook"), whenDone: { _ in }) == .queued)
        try await waitUntil("both notifications arrive", timeout: .seconds(60)) { sink.requests("hook").count == 2 }
        let firing = sink.requests("hook")[0]
        let payload = firing.json
        #expect(payload["version"] as? String == "4")
        #expect(payload["groupKey"] as? String == "{}:{alertname=\"RejectsHigh\", tenant=\"tenant-a\"}")
        #expect(payload["truncatedAlerts"] as? Int == 0)
        #expect(payload["status"] as? String == "firing")
        #expect(payload["receiver"] as? String == "hook")
        #expect(payload["groupLabels"] as? [String: String] == ["alertname": "RejectsHigh", "tenant": "tenant-a"])
        #expect(payload["commonLabels"] as? [String: String] == ["alertname": "RejectsHigh", "tenant": "tenant-a", "severity": "ticket"])
        #expect(payload["commonAnnotations"] as? [String: String] == ["summary": "tenant-a rejects 0.5"])
        #expect(payload["externalURL"] as? String == "http://sluice.example:8080")
        let alert = try #require((payload["alerts"] as? [[String: Any]])?.first)
        #expect(Set(alert.keys) == ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"])
        #expect(alert["status"] as? String == "firing")
        #expect(alert["startsAt"] as? String == "2026-12-06T10:00:00.000Z")
        #expect(alert["endsAt"] as? String == "0001-01-01T00:00:00Z")
        #expect((alert["generatorURL"] as? String)?.hasPrefix("http://sluice.example:8080/api/v1/alerts/history") == true)
        let fingerprint = try #require(alert["fingerprint"] as? String)
        #expect(fingerprint.count == 16 && fingerprint.allSatisfy(\.isHexDigit))
        let resolved = try #require((sink.requests("hook")[1].json["alerts"] as? [[String: Any]])?.first)
        #expect(resolved["fingerprint"] as? String == fingerprint, "stable per label set")
        #expect(resolved["endsAt"] as? String == "2026-12-06T10:01:30.000Z" && sink.requests("hook")[1].json["status"] as? String == "resolved")
        let mac = HMAC<SHA256>.authenticationCode(for: firing.body, using: SymmetricKey(data: Data("s3cret".utf8)))
        #expect(firing.headers["X-Sluice-Signature"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
        #expect(firing.headers["Authorization"] == "Bearer hook-token" && firing.headers["Content-Type"] == "application/json")
        hook.stop()
        await sink.stop()
        await pool.close()
    }

    @Test func serverErrorsAreRetriedUntilDeliveredOnceAndA400IsNot() async throws {
        let sink = try WebhookSink(scripts: ["flaky": [500, 503, 429], "picky": [400]])
        let pool = try await pool()
        let flaky = receiver(sink, "flaky", pool: pool)
        let picky = receiver(sink, "picky", pool: pool)
        let told = Told()
        _ = try await flaky.deliver(group(notification(), receiver: "flaky"), whenDone: { told.record("flaky", $0) })
        _ = try await picky.deliver(group(notification(), receiver: "picky"), whenDone: { told.record("picky", $0) })
        let log = DeliveryLog(pool: pool)
        func outcomes(_ name: String) async throws -> [String] {
            try await log.list(receiver: name, from: Self.ten.addingTimeInterval(-86_400 * 365), to: Date().addingTimeInterval(60), limit: 10)
                .reversed().map(\.outcome)
        }
        try await waitUntil("the flaky receiver gets it in the end", timeout: .seconds(60)) { try await outcomes("flaky").last == "delivered" }
        #expect(try await outcomes("flaky") == ["retrying", "retrying", "retrying", "delivered"])
        #expect(sink.requests("flaky").count == 4, "delivered once, after three refusals")
        try await waitUntil("the 400 is logged", timeout: .seconds(60)) { try await outcomes("picky") == ["failed"] }
        #expect(sink.requests("picky").count == 1, "a 400 is not retried")
        try await waitUntil("both outcomes are told", timeout: .seconds(60)) { told.outcomes.count == 2 }
        #expect(told.outcomes == ["flaky": true, "picky": false], "the group's flush learns whether it was delivered")
        let failed = try #require(try await log.list(receiver: "picky", from: Self.ten, to: Date().addingTimeInterval(60), limit: 1).first)
        #expect(failed.httpStatus == 400 && failed.attempt == 1 && failed.groupKey.contains("RejectsHigh"))
        flaky.stop()
        picky.stop()
        await sink.stop()
        await pool.close()
    }

    @Test func aSilentReceiverTimesOutWithoutDelayingAnother() async throws {
        let sink = try WebhookSink()
        let pool = try await pool()
        let silent = receiver(sink, "silent", pool: pool) {
            $0.timeout = .seconds(6)
            $0.retry.deadline = .seconds(1)
        }
        let prompt = receiver(sink, "prompt", pool: pool)
        _ = try await silent.deliver(group(notification(), receiver: "silent"), whenDone: { _ in })
        try await waitUntil("the silent receiver's request is in flight", timeout: .seconds(60)) { !sink.requests("silent").isEmpty }
        _ = try await prompt.deliver(group(notification(), receiver: "prompt"), whenDone: { _ in })
        try await waitUntil("the prompt receiver gets its notification", timeout: .seconds(60)) { !sink.requests("prompt").isEmpty }
        let log = DeliveryLog(pool: pool)
        try await waitUntil("the silent receiver's attempt times out", timeout: .seconds(60)) {
            try await log.list(receiver: "silent", from: Self.ten, to: Date().addingTimeInterval(60), limit: 5).first?.outcome == "failed"
        }
        let timedOut = try #require(try await log.list(receiver: "silent", from: Self.ten, to: Date().addingTimeInterval(60), limit: 5).first)
        #expect(timedOut.error?.contains("timed_out") == true, "\(String(describing: timedOut.error))")
        let promptAt = try #require(sink.requests("prompt").first?.at)
        #expect(promptAt < timedOut.at, "the prompt receiver was served while the silent one's request hung")
        silent.stop()
        prompt.stop()
        await sink.stop()
        await pool.close()
    }

    @Test func aRuleFiresThroughNotificationsYAMLToAWebhook() async throws {
        let sink = try WebhookSink()
        let directory = try MonitorAPITests.configDirectory(rules: """
            rules:
              - {name: QuietTenant, kind: threshold, series: ingest_rows_per_second, window: 1m, op: "==", threshold: 0,
                 labels: {severity: ticket}, annotations: {summary: "{{ .tenant }} ingests nothing"}}
            """)
        try """
            receivers:
              - name: on-call
                webhook: {url: "\(sink.url)/on-call", signature_secret: abc, max_alerts: 10}
            route:
              receiver: stream-manager
              routes: [{matchers: ['severity="ticket"'], receiver: on-call, group_by: [alertname, tenant], group_wait: 1s, group_interval: 1s}]
            """.write(toFile: directory + "/notifications.yaml", atomically: true, encoding: .utf8)
        try await InProcessSluice.with(configDirectory: directory, configure: { $0.monitor.interval = .milliseconds(200) }) { sluice in
            _ = try await sluice.createTenant(tenantYAML("hooked-a"), contentType: "application/yaml")
            try await waitUntil("the alert arrives by webhook", timeout: .seconds(60)) { !sink.requests("on-call").isEmpty }
            let payload = try #require(sink.requests("on-call").first).json
            let alert = try #require((payload["alerts"] as? [[String: Any]])?.first)
            #expect((alert["labels"] as? [String: String])?["tenant"] == "hooked-a")
            #expect((alert["annotations"] as? [String: String])?["summary"] == "hooked-a ingests nothing")
            // The attempt is logged and counted once its answer is in, a moment after the sink has the request.
            try await waitUntil("the delivery is logged", timeout: .seconds(60)) {
                let attempts = try await sluice.send("GET", "/api/v1/notifications?receiver=on-call", token: InProcessSluice.adminToken).json()
                return (attempts["attempts"] as? [[String: Any]])?.contains { $0["outcome"] as? String == "delivered" } == true
            }
            try await waitUntil("the delivery is counted", timeout: .seconds(60)) {
                let metrics = try await sluice.client.get("/metrics").text
                return metricValue(metrics, "sluice_notifications_total{receiver=\"on-call\",integration=\"webhook\",outcome=\"delivered\"}") ?? 0 >= 1
            }
        }
        await sink.stop()
    }
}

/// The outcomes receivers tell, by receiver.
final class Told: Sendable {
    private let values = Mutex<[String: Bool]>([:])

    func record(_ name: String, _ delivered: Bool) { values.withLock { $0[name] = delivered } }

    var outcomes: [String: Bool] { values.withLock { $0 } }
}
