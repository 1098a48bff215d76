import Foundation
import SluiceTestSupport
import Testing

/// The monitor through the API: the series endpoint, rule reloads, alerts, and inbound Alertmanager payloads.
@Suite struct MonitorAPITests {
    private static let admin = InProcessSluice.adminToken

    private static func code(_ response: TestHTTPResponse) -> String? {
        (try? response.json()["error"] as? [String: Any])?["code"] as? String
    }

    static func configDirectory(rules: String?) throws -> String {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-config")
        try FileManager.default.createDirectory(atPath: directory + "/rules", withIntermediateDirectories: true)
        if let rules { try rules.write(toFile: directory + "/rules/rules.yaml", atomically: true, encoding: .utf8) }
        return directory
    }

    @Test func theSeriesEndpointAnswersInPrometheusShape() async throws {
        try await InProcessSluice.with(configure: { $0.stream.window = .milliseconds(200) }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("series-a"), contentType: "application/yaml")
            let otherKey = try await sluice.createTenant(tenantYAML("series-b"), contentType: "application/yaml")
            // The window under way may have opened a while ago on a loaded machine.
            let started = Int(Date().timeIntervalSince1970) - 60
            let body = (0..<30).map { StreamTests.reading("s", at: $0, value: 1) }.joined(separator: "\n") + "\n{\"sensor\": 1}"
            #expect(try await StreamTests.post(sluice, "series-a", key: key, body).status == 200)
            let path = "/api/v1/tenants/series-a/series?metric=ingest_rows_per_second&from=\(started)&step=1&window=1"
            var messages = 0.0
            try await waitUntil("the window's report is in the series", timeout: .seconds(60)) {
                let answer = try await sluice.send("GET", path + "&to=\(Int(Date().timeIntervalSince1970) + 1)", token: key).json()
                let data = answer["data"] as? [String: Any]
                let result = (data?["result"] as? [[String: Any]])?.first
                messages = (result?["values"] as? [[Any]] ?? []).reduce(0) { $0 + (Double($1[1] as? String ?? "") ?? 0) }
                return messages > 0
            }
            #expect(messages == 30, "30 rows ingested in one-second steps")
            let answer = try await sluice.send("GET", path + "&to=\(started + 5)", token: key).json()
            #expect(answer["status"] as? String == "success")
            let data = try #require(answer["data"] as? [String: Any])
            #expect(data["resultType"] as? String == "matrix")
            let result = try #require((data["result"] as? [[String: Any]])?.first)
            #expect(result["metric"] as? [String: String] == ["__name__": "ingest_rows_per_second", "tenant": "series-a"])
            let first = try #require((result["values"] as? [[Any]])?.first)
            #expect(first.count == 2 && first[0] is Double && first[1] is String)

            let ratio = try await sluice.send("GET", "/api/v1/tenants/series-a/series?metric=reject_ratio&from=\(started)&step=60&window=120",
                                              token: key).json()
            let ratioValues = ((ratio["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["values"] as? [[Any]] ?? []
            #expect(ratioValues.contains { abs((Double($0[1] as? String ?? "") ?? 0) - 1.0 / 31) < 1e-9 }, "\(ratioValues)")

            // Other tenants, every tenant, and bad parameters.
            #expect(try await sluice.send("GET", path, token: otherKey).status == 404)
            #expect(try await sluice.send("GET", "/api/v1/tenants/*/series?metric=reject_ratio", token: key).status == 403)
            #expect(try await sluice.send("GET", "/api/v1/tenants/series-a/series?metric=readiness_availability", token: key).status == 403,
                    "the platform's readiness is not a tenant's")
            let all = try await sluice.send("GET", "/api/v1/tenants/*/series?metric=ingest_rows_per_second&from=\(started)&step=60",
                                            token: Self.admin)
            #expect(all.status == 200 && all.text.contains("\"series-a\"") && !all.text.contains("\"series-b\""), "\(all.text)")
            for (query, code) in [("metric=nope", "unknown_series"), ("metric=reject_ratio&step=0", "invalid_parameter"),
                                  ("metric=reject_ratio&from=yesterday", "invalid_time"),
                                  ("metric=reject_ratio&from=0&to=2000000000&step=1", "too_many_points"), ("", "invalid_parameter")] {
                let response = try await sluice.send("GET", "/api/v1/tenants/series-a/series?\(query)", token: key)
                #expect(response.status == 400 && Self.code(response) == code, "\(query): \(response.text)")
            }
        }
    }

    @Test func aBadRuleFileIsRefusedWithEveryProblemAndTheRulesInForceStay() async throws {
        let good = "rules: [{name: Quiet, kind: threshold, series: ingest_rows_per_second, window: 1m, op: '==', threshold: 0}]\n"
        let directory = try Self.configDirectory(rules: good)
        try await InProcessSluice.with(configDirectory: directory, configure: { $0.monitor.interval = .milliseconds(200) }) { sluice in
            _ = try await sluice.createTenant(tenantYAML("rules-a"), contentType: "application/yaml")
            try await waitUntil("the rule fires for the quiet tenant", timeout: .seconds(60)) {
                let alerts = try await sluice.send("GET", "/api/v1/alerts", token: Self.admin).json()["alerts"] as? [[String: Any]] ?? []
                return alerts.contains { $0["name"] as? String == "Quiet" && $0["tenant"] as? String == "rules-a" && $0["state"] as? String == "firing" }
            }
            let alert = try #require((try await sluice.send("GET", "/api/v1/alerts", token: Self.admin).json()["alerts"] as? [[String: Any]])?.first)
            for key in ["name", "tenant", "state", "labels", "annotations", "value", "active_at"] { #expect(alert[key] != nil, "\(key)") }

            try "rules:\n  - {name: Broken, kind: threshold, series: nope, window: 1m, op: '>', threshold: 1}\n"
                .write(toFile: directory + "/rules/more.yaml", atomically: true, encoding: .utf8)
            let refused = try await sluice.send("POST", "/api/v1/rules/reload", token: Self.admin)
            #expect(refused.status == 422 && Self.code(refused) == "invalid_rules", "\(refused.text)")
            #expect(refused.text.contains("more.yaml: rules[0].series: unknown series"), "\(refused.text)")
            let metrics = try await sluice.client.get("/metrics").text
            #expect(metricValue(metrics, "sluice_rules_last_reload_success") == 0)
            #expect(metricValue(metrics, "sluice_rules{kind=\"threshold\"}") == 1)
            let inForce = try await sluice.send("GET", "/api/v1/rules", token: Self.admin).json()["rules"] as? [[String: Any]]
            #expect(inForce?.map { $0["name"] as? String } == ["Quiet"], "the refused file changed nothing")
            #expect(try await sluice.send("POST", "/api/v1/rules/reload", token: nil).status == 401)
            #expect(try await sluice.send("POST", "/api/v1/rules/reload", token: "not-admin").status == 403)

            try FileManager.default.removeItem(atPath: directory + "/rules/more.yaml")
            let reloaded = try await sluice.send("POST", "/api/v1/rules/reload", token: Self.admin)
            let rules = try reloaded.json()["rules"] as? [[String: Any]]
            #expect(reloaded.status == 200 && rules?.map { $0["name"] as? String } == ["Quiet"], "\(reloaded.text)")
            #expect(metricValue(try await sluice.client.get("/metrics").text, "sluice_rules_last_reload_success") == 1)
            let history = try await sluice.send("GET", "/api/v1/alerts/history?tenant=rules-a", token: Self.admin).json()
            #expect((history["events"] as? [[String: Any]])?.contains { $0["state"] as? String == "firing" } == true)
        }
    }

    private static func payload(_ alerts: [(status: String, labels: [String: String])], version: String = "4") -> String {
        let list = alerts.map { alert in
            let labels = alert.labels.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
            return #"{"status": "\#(alert.status)", "labels": {\#(labels)}, "annotations": {"summary": "s"}, "startsAt": "2026-12-06T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "0123456789abcdef"}"#
        }
        return #"{"version": "\#(version)", "groupKey": "{}:{alertname=\"QueueGrowing\"}", "truncatedAlerts": 0, "status": "firing", "receiver": "sluice", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": [\#(list.joined(separator: ", "))]}"#
    }

    @Test func inboundAlertmanagerPayloadsDriveTheStreamManagerOnce() async throws {
        try await InProcessSluice.with(configure: { $0.alertsWebhookToken = "hook-token" }) { sluice in
            let yaml = tenantYAML("inbound-a") + "\nservice_agreement:\n  stream: {min_instances: 1, max_instances: 3}\n"
            _ = try await sluice.createTenant(yaml, contentType: "application/yaml")
            func post(_ body: String, token: String? = "hook-token") async throws -> TestHTTPResponse {
                try await sluice.send("POST", "/api/v1/alerts/webhook", token: token, headers: [("Content-Type", "application/json")],
                                      body: .bytes(Array(body.utf8)))
            }
            func desired() async throws -> Int? {
                try await sluice.send("GET", "/api/v1/tenants/inbound-a/stream/instances", token: Self.admin).json()["desired"] as? Int
            }
            func actions() async throws -> [[String: Any]] {
                try await sluice.send("GET", "/api/v1/stream/actions?tenant=inbound-a", token: Self.admin).json()["actions"] as? [[String: Any]] ?? []
            }
            let labels = ["alertname": "QueueGrowing", "tenant": "inbound-a", "sluice_action": "scale_up", "sluice_by": "1"]

            // Refused whole, changing nothing.
            for (body, status, code) in [
                ("not json", 400, "invalid_payload"),
                (Self.payload([("firing", labels)], version: "3"), 400, "invalid_payload"),
                (Self.payload([("firing", labels), ("firing", ["alertname": "NoTenant"])]), 422, "invalid_alert"),
                (Self.payload([("firing", labels.merging(["tenant": "nobody"]) { $1 })]), 422, "unknown_tenant"),
                (Self.payload([("firing", labels.merging(["sluice_action": "explode"]) { $1 })]), 422, "invalid_alert"),
                (Self.payload([("firing", labels.merging(["sluice_action": "throttle"]) { $1 })]), 422, "invalid_alert"),
            ] {
                let response = try await post(body)
                #expect(response.status == status && Self.code(response) == code, "\(body): \(response.text)")
            }
            #expect(try await post(Self.payload([("firing", labels)]), token: nil).status == 401)
            #expect(try await post(Self.payload([("firing", labels)]), token: "wrong").status == 403)
            let untouched = try await desired()
            let noActions = try await actions()
            #expect(untouched == 1 && noActions.isEmpty)

            // Firing scales up once however often Alertmanager repeats it; resolved scales back down.
            for _ in 0..<3 {
                let response = try await post(Self.payload([("firing", labels)]))
                #expect(response.status == 200, "\(response.text)")
            }
            #expect(try await desired() == 2)
            let up = try #require(try await actions().first)
            #expect(up["source"] as? String == "alertmanager:QueueGrowing" && up["action"] as? String == "scale_up")
            #expect((up["cause"] as? [String: Any])?["status"] as? String == "firing")
            let alerts = try await sluice.send("GET", "/api/v1/alerts?tenant=inbound-a", token: Self.admin).json()["alerts"] as? [[String: Any]]
            #expect(alerts?.first?["name"] as? String == "QueueGrowing")
            #expect(try await post(Self.payload([("resolved", labels)]), token: Self.admin).status == 200)
            #expect(try await post(Self.payload([("resolved", labels)])).status == 200)
            #expect(try await desired() == 1)
            #expect(try await actions().map { $0["action"] as? String } == ["scale_down", "scale_up"])
        }
    }

    @Test func silencesAreCreatedListedAndExpiredKeepingHistory() async throws {
        try await InProcessSluice.with { sluice in
            func post(_ body: String, token: String = Self.admin) async throws -> TestHTTPResponse {
                try await sluice.send("POST", "/api/v1/silences", token: token, headers: [("Content-Type", "application/json")],
                                      body: .bytes(Array(body.utf8)))
            }
            let key = try await sluice.createTenant(tenantYAML("silent-a"), contentType: "application/yaml")
            let created = try await post(#"{"matchers": ["tenant=\"silent-a\"", "severity=~\"ticket|page\""], "ends_at": "2099-01-01T00:00:00Z", "comment": "maintenance"}"#)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(try created.json()["id"] as? String)
            #expect(try created.json()["state"] as? String == "active")
            for (body, what) in [(#"{"matchers": ["tenant=~\"(\""], "ends_at": "2099-01-01T00:00:00Z", "comment": "x"}"#, "a bad expression"),
                                 (#"{"matchers": ["tenant=\"a\""], "ends_at": "2001-01-01T00:00:00Z", "comment": "x"}"#, "an end in the past"),
                                 (#"{"matchers": ["tenant=\"a\""], "ends_at": "2099-01-01T00:00:00Z", "comment": " "}"#, "no comment"),
                                 (#"{"matchers": [], "ends_at": "2099-01-01T00:00:00Z", "comment": "x"}"#, "no matcher"),
                                 ("not json", "not JSON")] {
                let refused = try await post(body)
                #expect(refused.status == 400 && Self.code(refused) == "invalid_silence", "\(what): \(refused.text)")
            }
            #expect(try await post(#"{"matchers": ["tenant=\"a\""], "ends_at": "2099-01-01T00:00:00Z", "comment": "x"}"#, token: key).status == 403)
            let active = try await sluice.send("GET", "/api/v1/silences?state=active", token: Self.admin).json()["silences"] as? [[String: Any]]
            #expect(active?.map { $0["id"] as? String } == [id])
            #expect(try await sluice.send("DELETE", "/api/v1/silences/\(id)", token: Self.admin).status == 200)
            let missing = try await sluice.send("DELETE", "/api/v1/silences/nope", token: Self.admin)
            #expect(missing.status == 404 && Self.code(missing) == "silence_not_found")
            let all = try await sluice.send("GET", "/api/v1/silences", token: Self.admin).json()["silences"] as? [[String: Any]]
            #expect(all?.first?["state"] as? String == "expired" && all?.first?["comment"] as? String == "maintenance", "kept as history")
            #expect((try await sluice.send("GET", "/api/v1/silences?state=active", token: Self.admin).json()["silences"] as? [[String: Any]])?.isEmpty == true)
        }
    }
}
