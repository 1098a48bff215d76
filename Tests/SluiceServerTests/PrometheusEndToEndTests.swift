import Foundation
import SluiceTestSupport
import Testing

/// The operators' view against the real thing: Sluice under batch and stream load for two tenants (with
/// rejects, an aborted upload and a wrong key), its own rules, objective and webhook receiver configured,
/// Debian's Prometheus scraping it every second with the shipped rule files, and Debian's Alertmanager routing
/// the backpressure alert to Sluice's inbound webhook. Through Prometheus's HTTP API: the target is up without
/// scrape errors and every metric family Sluice exposes is ingested; every rule evaluates without error; a
/// tenant kept under backpressure fires SluiceStreamBackpressure in Prometheus, which Alertmanager delivers to
/// Sluice, which scales the tenant's stream app up; and every dashboard expression and variable, substituted
/// with All and with one tenant, is accepted and returns data.
@Suite struct PrometheusEndToEndTests {
    private static let admin = InProcessSluice.adminToken

    /// The shipped rule files, with every `for` cut to nothing: the expressions are the shipped ones, the test
    /// does not wait minutes for them.
    private static func rules(into directory: String) throws {
        let alerts = SluiceProcess.packageRoot + "/alerts"
        for name in try FileManager.default.contentsOfDirectory(atPath: alerts) where name.hasSuffix(".rules.yaml") {
            let text = try String(contentsOfFile: alerts + "/" + name, encoding: .utf8)
            try text.replacing(/for: \d+[smh]/, with: "for: 0s").write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    /// Sluice's own configuration: a reject-ratio rule both tenants' mixed files fire, an availability objective,
    /// and a webhook receiver for the rule (the alerts from Alertmanager go to the stream manager).
    private static func sluiceConfiguration(webhook: String) throws -> String {
        let directory = try MonitorAPITests.configDirectory(rules: """
            rules:
              - {name: RejectsHigh, kind: threshold, series: reject_ratio, window: 1m, op: ">", threshold: 0.1,
                 labels: {severity: ticket}, annotations: {summary: "{{ .tenant }} rejects {{ .value }} of its rows"}}
              - {name: IngestAvailability, kind: slo, series: availability, objective: 0.995, period: 30d}
            """)
        try """
            receivers:
              - name: chat
                webhook: {url: "\(webhook)/chat"}
            route:
              receiver: stream-manager
              group_wait: 0s
              group_interval: 1s
              routes:
                - {matchers: ['alertname="RejectsHigh"'], receiver: chat}
            """.write(toFile: directory + "/notifications.yaml", atomically: true, encoding: .utf8)
        return directory
    }

    @Test func prometheusAndAlertmanagerSeeSluiceAndItsAlertsComeBack() async throws {
        let work = try TestPostgres.makeTemporaryDirectory(prefix: "prometheus-e2e")
        try FileManager.default.createDirectory(atPath: work + "/rules", withIntermediateDirectories: true)
        try Self.rules(into: work + "/rules")
        let hook = try WebhookSink()
        let configuration = try Self.sluiceConfiguration(webhook: hook.url)
        try await InProcessSluice.with(configDirectory: configuration, ingestWorkers: 1, configure: {
            $0.stream.window = .milliseconds(200)
            $0.monitor.interval = .milliseconds(500)
        }) { sluice in
            let streamKey = try await sluice.createTenant(tenantYAML("prom-a") + """

                service_agreement:
                  stream: {max_queue_messages: 50, min_instances: 0, max_instances: 2}
                """, contentType: "application/yaml")
            let batchKey = try await sluice.createTenant(tenantYAML("prom-b"), contentType: "application/yaml")
            // Batch for both: a good file and one with rejects; stream for prom-a: accepted messages.
            for (tenant, key) in [("prom-a", streamKey), ("prom-b", batchKey)] {
                _ = try await sluice.uploadAndWait(tenant, key: key, name: "good.csv", "sensor,at,value,note\ns1,1700000000000,1.5,\n")
                _ = try await sluice.uploadAndWait(tenant, key: key, name: "mixed.csv",
                                                   "sensor,at,value,note\ns2,1700000000001,2.5,\ns3,1700000000002,oops,\n")
            }
            try await StreamTests.setInstances(sluice, "prom-a", 1)
            @Sendable func lines(_ prefix: String) -> String {
                (0..<20).map { StreamTests.reading("\(prefix)-\($0)", at: $0, value: 1) }.joined(separator: "\n")
            }
            #expect(try await StreamTests.post(sluice, "prom-a", key: streamKey, lines("ok")).status == 200)
            // Errors as clients make them: a wrong key, and an upload its client breaks off.
            #expect(try await sluice.send("GET", "/api/v1/tenants/prom-b/files", token: "not-a-key").status == 401)
            let cut = try await PiecewiseUpload(sluice.client, tenant: "prom-b", key: batchKey, name: "cut.csv",
                                                body: Array(repeating: UInt8(ascii: "x"), count: 1 << 16))
            cut.cutOff()

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

                // 2. Every shipped rule loads and evaluates without error.
                try await waitUntil("every rule has been evaluated", timeout: .seconds(120), interval: .seconds(1)) {
                    let groups = ((try await Self.json(prometheusPort, "/api/v1/rules")["data"] as? [String: Any])?["groups"] as? [[String: Any]]) ?? []
                    let rules = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
                    return rules.count >= 26 && rules.allSatisfy { $0["health"] as? String == "ok" }
                }

                // 3. Backpressure: no instance may run, the queue fills, requests are refused with 429 until the
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

                // 4. Every dashboard variable and expression, with All and with one tenant, is accepted by
                // Prometheus and returns data. Sluice's own alert fires once a minute with rejects is complete: files
                // with rejects keep arriving meanwhile, so it keeps firing however long this takes.
                let dashboards = try Self.dashboards()
                #expect(dashboards.expressions.count > 50 && dashboards.variables.count >= 2)
                var missing: [String] = []
                var sent = 0
                do {
                    try await waitUntil("every dashboard query returns data", timeout: .seconds(240), interval: .seconds(2)) {
                        sent += 1
                        _ = try await sluice.upload("prom-a", key: streamKey, name: "mixed-\(sent).csv",
                                                    "sensor,at,value,note\nm\(sent),1700000000000,2.5,\nm\(sent),1700000000001,oops,\n")
                        missing = try await Self.withoutData(dashboards, prometheus: prometheusPort, tenant: "prom-a", tenants: ["prom-a", "prom-b"])
                        return missing.isEmpty
                    }
                } catch {
                    Issue.record("without data:\n\(missing.joined(separator: "\n"))")
                }
                #expect(!hook.requests("chat").isEmpty, "Sluice's own alert reached its webhook receiver")
            } catch {
                Issue.record("prometheus log:\n\(prometheus.log.suffix(3000))\nalertmanager log:\n\(alertmanager.log.suffix(3000))")
                try await prometheus.stop()
                try await alertmanager.stop()
                throw error
            }
            try await prometheus.stop()
            try await alertmanager.stop()
        }
        await hook.stop()
        try? FileManager.default.removeItem(atPath: work)
        try? FileManager.default.removeItem(atPath: configuration)
    }
}
