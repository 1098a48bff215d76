import Foundation
import SluiceTestSupport
import Testing

/// The operators' view against the real thing: Sluice under batch and stream load for two tenants (with
/// rejects), Debian's Prometheus scraping it every second with the shipped rule files, and Debian's Alertmanager
/// routing the backpressure alert to Sluice's inbound webhook. Through Prometheus's HTTP API: the target is up
/// without scrape errors and every metric family Sluice exposes is ingested; every dashboard expression, its
/// variables substituted, is accepted; every rule evaluates without error; and a tenant kept under backpressure
/// fires SluiceStreamBackpressure in Prometheus, which Alertmanager delivers to Sluice, which scales the tenant's
/// stream app up.
@Suite struct PrometheusEndToEndTests {
    private static let admin = InProcessSluice.adminToken

    /// The dashboard series this test's load does not produce (yet): Sluice's own alerts and objectives (no rules
    /// configured here), notifications, errors that did not happen, and 429s (induced last).
    private static var notDrivenHere: Regex<Substring> { #/sluice_alerts|sluice_slo_|sluice_rule_evaluation_failures_total|sluice_notification|sluice_store_query_errors_total|sluice_http_authentication_failures_total|sluice_stream_throttled_total|code=~"5\.\.\|aborted"/# }

    /// A GET on a loopback server, parsed as JSON.
    private static func json(_ port: Int, _ path: String) async throws -> [String: Any] {
        try await TestHTTPClient(port: UInt16(port)).get(path).json()
    }

    private static func query(_ prometheus: Int, _ expression: String) async throws -> [String: Any] {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        return try await json(prometheus, "/api/v1/query?query=\(encoded)")
    }

    /// The shipped rule files, with every `for` cut to nothing: the expressions are the shipped ones, the test
    /// does not wait minutes for them.
    private static func rules(into directory: String) throws {
        let alerts = SluiceProcess.packageRoot + "/alerts"
        for name in try FileManager.default.contentsOfDirectory(atPath: alerts) where name.hasSuffix(".rules.yaml") {
            let text = try String(contentsOfFile: alerts + "/" + name, encoding: .utf8)
            try text.replacing(/for: \d+[smh]/, with: "for: 0s").write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    @Test func prometheusAndAlertmanagerSeeSluiceAndItsAlertsComeBack() async throws {
        let work = try TestPostgres.makeTemporaryDirectory(prefix: "prometheus-e2e")
        try FileManager.default.createDirectory(atPath: work + "/rules", withIntermediateDirectories: true)
        try Self.rules(into: work + "/rules")
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.stream.window = .milliseconds(200) }) { sluice in
            let streamKey = try await sluice.createTenant(tenantYAML("prom-a") + """

                service_agreement:
                  stream: {max_queue_messages: 50, min_instances: 0, max_instances: 2}
                """, contentType: "application/yaml")
            let batchKey = try await sluice.createTenant(tenantYAML("prom-b"), contentType: "application/yaml")
            // Batch: a good file and one with rejects; stream: accepted messages.
            _ = try await sluice.uploadAndWait("prom-b", key: batchKey, name: "good.csv", "sensor,at,value,note\ns1,1700000000000,1.5,\n")
            _ = try await sluice.uploadAndWait("prom-b", key: batchKey, name: "mixed.csv",
                                               "sensor,at,value,note\ns2,1700000000001,2.5,\ns3,1700000000002,oops,\n")
            try await StreamTests.setInstances(sluice, "prom-a", 1)
            @Sendable func lines(_ prefix: String) -> String {
                (0..<20).map { StreamTests.reading("\(prefix)-\($0)", at: $0, value: 1) }.joined(separator: "\n")
            }
            #expect(try await StreamTests.post(sluice, "prom-a", key: streamKey, lines("ok")).status == 200)

            let alertmanagerPort = try TestPostgres.freePort()
            try """
                route:
                  receiver: blackhole
                  group_wait: 1s
                  group_interval: 1s
                  repeat_interval: 1h
                  routes:
                    - matchers: ['alertname="SluiceStreamBackpressure"']
                      receiver: sluice
                receivers:
                  - name: blackhole
                  - name: sluice
                    webhook_configs:
                      - url: http://127.0.0.1:\(sluice.port)/api/v1/alerts/webhook
                        http_config: {authorization: {credentials: "\(Self.admin)"}}
                """.write(toFile: work + "/alertmanager.yml", atomically: true, encoding: .utf8)
            let alertmanager = try TestDaemon("/usr/bin/prometheus-alertmanager", [
                "--config.file=\(work)/alertmanager.yml", "--storage.path=\(work)/alertmanager",
                "--web.listen-address=127.0.0.1:\(alertmanagerPort)", "--cluster.listen-address=",
            ], installedBy: "prometheus-alertmanager")
            let prometheusPort = try TestPostgres.freePort()
            try """
                global: {scrape_interval: 1s, evaluation_interval: 1s}
                rule_files: ["\(work)/rules/*.rules.yaml"]
                alerting:
                  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:\(alertmanagerPort)"]}]}]
                scrape_configs:
                  - job_name: sluice
                    static_configs: [{targets: ["127.0.0.1:\(sluice.port)"]}]
                """.write(toFile: work + "/prometheus.yml", atomically: true, encoding: .utf8)
            let prometheus = try TestDaemon("/usr/bin/prometheus", [
                "--config.file=\(work)/prometheus.yml", "--storage.tsdb.path=\(work)/prometheus",
                "--web.listen-address=127.0.0.1:\(prometheusPort)",
            ], installedBy: "prometheus")
            do {
                try await waitUntil("Alertmanager is ready", timeout: .seconds(120), interval: .milliseconds(500)) {
                    guard alertmanager.isRunning else { throw TestClientError("alertmanager exited: \(alertmanager.log)") }
                    return (try? await TestHTTPClient(port: UInt16(alertmanagerPort)).get("/-/ready").status) == 200
                }
                // 1. The target is up, scraped without errors, and every family with samples is ingested.
                try await waitUntil("Prometheus scrapes Sluice", timeout: .seconds(120), interval: .milliseconds(500)) {
                    guard prometheus.isRunning else { throw TestClientError("prometheus exited: \(prometheus.log)") }
                    let result = (try? await Self.query(prometheusPort, #"up{job="sluice"}"#))?["data"] as? [String: Any]
                    return ((result?["result"] as? [[String: Any]])?.first?["value"] as? [Any])?.last as? String == "1"
                }
                let targets = try await Self.json(prometheusPort, "/api/v1/targets")
                let active = ((targets["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
                #expect(active.count == 1 && active.first?["health"] as? String == "up" && active.first?["lastError"] as? String == "")
                let exposition = try await sluice.client.get("/metrics").text
                let sampled = Set(exposition.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
                    .map { String($0.prefix { $0 != "{" && $0 != " " }) })
                try await waitUntil("every sampled family is in Prometheus", timeout: .seconds(120), interval: .seconds(1)) {
                    let names = Set((try await Self.json(prometheusPort, "/api/v1/label/__name__/values")["data"] as? [String]) ?? [])
                    return sampled.isSubset(of: names)
                }

                // 2. Every dashboard expression, with All and with one tenant, is accepted by Prometheus. Rates need
                // two scrapes within their window first.
                try await waitUntil("two scrapes fall within a rate's window", timeout: .seconds(120), interval: .milliseconds(500)) {
                    let answer = try await Self.query(prometheusPort, "count(rate(sluice_http_requests_total[1m]))")
                    return !(((answer["data"] as? [String: Any])?["result"] as? [Any]) ?? []).isEmpty
                }
                var expressions: [String] = []
                for name in try FileManager.default.contentsOfDirectory(atPath: SluiceProcess.packageRoot + "/dashboards")
                where name.hasSuffix(".json") {
                    let text = try String(contentsOfFile: SluiceProcess.packageRoot + "/dashboards/" + name, encoding: .utf8)
                    let dashboard = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
                    for panel in dashboard["panels"] as? [[String: Any]] ?? [] {
                        expressions += (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
                    }
                }
                #expect(expressions.count > 50)
                var withData = 0
                for expression in expressions {
                    for tenant in [".*", "prom-b"] {
                        let substituted = expression.replacingOccurrences(of: "$__rate_interval", with: "1m")
                            .replacingOccurrences(of: "$__range", with: "1h").replacingOccurrences(of: "$tenant", with: tenant)
                        let answer = try await Self.query(prometheusPort, substituted)
                        #expect(answer["status"] as? String == "success", "\(substituted): \(answer)")
                        if !(((answer["data"] as? [String: Any])?["result"] as? [Any]) ?? []).isEmpty {
                            withData += 1
                        } else if tenant == ".*" {
                            #expect(substituted.contains(Self.notDrivenHere), "\(substituted) returns no data")
                        }
                    }
                }
                #expect(withData >= expressions.count, "dashboard queries returning data: \(withData) of \(expressions.count * 2)")

                // 3. Every shipped rule loads and evaluates without error.
                try await waitUntil("every rule has been evaluated", timeout: .seconds(120), interval: .seconds(1)) {
                    let groups = ((try await Self.json(prometheusPort, "/api/v1/rules")["data"] as? [String: Any])?["groups"] as? [[String: Any]]) ?? []
                    let rules = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
                    return rules.count >= 26 && rules.allSatisfy { $0["health"] as? String == "ok" }
                }

                // 4. Backpressure: no instance may run, the queue fills, requests are refused with 429 until the
                // alert has gone Prometheus → Alertmanager → Sluice, which scales the stream app up.
                try await StreamTests.setInstances(sluice, "prom-a", 0)
                let queued = (0..<2).map { index in Task { try await StreamTests.post(sluice, "prom-a", key: streamKey, lines("q\(index)")) } }
                try await waitUntil("two requests are queued", timeout: .seconds(60)) {
                    try await sluice.client.get("/metrics").text.contains("sluice_stream_queue_messages{tenant=\"prom-a\"} 40")
                }
                try await waitUntil("Sluice scales prom-a up on Alertmanager's word", timeout: .seconds(240), interval: .milliseconds(500)) {
                    _ = try await StreamTests.post(sluice, "prom-a", key: streamKey, lines("refused"))
                    let actions = try await sluice.send("GET", "/api/v1/stream/actions?tenant=prom-a", token: Self.admin)
                        .json()["actions"] as? [[String: Any]] ?? []
                    return actions.contains { $0["source"] as? String == "alertmanager:SluiceStreamBackpressure" && $0["action"] as? String == "scale_up" }
                }
                for task in queued { _ = try await task.value }
            } catch {
                Issue.record("prometheus log:\n\(prometheus.log.suffix(3000))\nalertmanager log:\n\(alertmanager.log.suffix(3000))")
                try await prometheus.stop()
                try await alertmanager.stop()
                throw error
            }
            try await prometheus.stop()
            try await alertmanager.stop()
        }
        try? FileManager.default.removeItem(atPath: work)
    }
}
