import Foundation
import SluiceTestSupport
import Testing

/// The closed loop end to end: a stream tenant whose external app turns slow burns its latency objective, the
/// monitor scales its instances up, and back down once it recovers; both actions are logged with their cause.
@Suite struct MonitorLoopTests {
    private static let admin = InProcessSluice.adminToken

    /// 90 % of stream messages committed within 0.5 s, judged over the last minute alone.
    private static let rules = """
        rules:
          - name: StreamLatencyBurn
            kind: slo
            series: latency
            path: stream
            latency_threshold: 0.5
            objective: 0.9
            period: 1h
            burn_windows: [{long: 1m, short: 1m, factor: 1, severity: page}]
            min_events: 1
            actions:
              firing: [{action: scale_up, by: 1}]
              resolved: [{action: scale_down, by: 1}]
        """

    @Test func aBurningLatencyObjectiveScalesUpAndRecoveryScalesBackDown() async throws {
        let directory = try MonitorAPITests.configDirectory(rules: Self.rules)
        let app = directory + "/slow-app.sh"
        try """
            #!/bin/sh
            while IFS= read -r line; do
              case "$line" in *slow*) sleep 1 ;; esac
              printf '%s\\n' "$line"
            done
            """.write(toFile: app, atomically: true, encoding: .utf8)
        chmod(app, 0o755)
        try await InProcessSluice.with(configDirectory: directory, configure: {
            $0.stream.window = .milliseconds(300)
            $0.monitor.interval = .milliseconds(300)
        }) { sluice in
            let yaml = tenantYAML("loop-a") + """

                service_agreement:
                  stream: {min_instances: 1, max_instances: 3}
                stream_app: {kind: external, command: [\(app)]}
                """
            let key = try await sluice.createTenant(yaml, contentType: "application/yaml")
            func actions() async throws -> [[String: Any]] {
                try await sluice.send("GET", "/api/v1/stream/actions?tenant=loop-a", token: Self.admin).json()["actions"] as? [[String: Any]] ?? []
            }
            func desired() async throws -> Int? {
                try await sluice.send("GET", "/api/v1/tenants/loop-a/stream/instances", token: Self.admin).json()["desired"] as? Int
            }

            for index in 0..<2 {
                let slow = #"{"sensor": "slow-\#(index)", "at": 1, "value": 1, "note": "slow"}"#
                #expect(try await StreamTests.post(sluice, "loop-a", key: key, slow).status == 200)
            }
            // Windows are complete minutes: the slow minute is judged once it is over.
            try await waitUntil("the monitor scales the tenant up", timeout: .seconds(240)) {
                try await actions().contains { $0["action"] as? String == "scale_up" }
            }
            let up = try #require(try await actions().first { $0["action"] as? String == "scale_up" })
            #expect(up["source"] as? String == "alert:StreamLatencyBurn" && up["outcome"] as? String == "applied")
            let upCause = up["cause"] as? [String: Any]
            #expect(upCause?["alert"] as? String == "StreamLatencyBurn" && upCause?["status"] as? String == "firing")
            #expect((up["state"] as? [String: Any])?["desired"] as? Int == 2)

            // Recovery: fast messages, many more than the slow ones.
            try await waitUntil("the monitor scales the tenant back down", timeout: .seconds(240)) {
                let body = (0..<20).map { _ in StreamTests.reading("fast", at: Int.random(in: 0..<1_000_000), value: 1) }.joined(separator: "\n")
                _ = try await StreamTests.post(sluice, "loop-a", key: key, body)
                return try await actions().contains { $0["action"] as? String == "scale_down" }
            }
            let down = try #require(try await actions().first { $0["action"] as? String == "scale_down" })
            #expect(down["source"] as? String == "alert:StreamLatencyBurn")
            #expect((down["cause"] as? [String: Any])?["status"] as? String == "resolved")
            #expect(try await desired() == 1)
            let metrics = try await sluice.client.get("/metrics").text
            #expect(metricValue(metrics, "sluice_notifications_total{receiver=\"stream-manager\",integration=\"stream_manager\",outcome=\"delivered\"}") ?? 0 >= 2)
            #expect(metrics.contains("sluice_slo_error_budget_remaining_ratio{slo=\"StreamLatencyBurn\",tenant=\"loop-a\"}"))
            #expect(metrics.contains("sluice_slo_burn_rate{slo=\"StreamLatencyBurn\",tenant=\"loop-a\",window=\"1m\"}"))
        }
    }
}

extension MonitorLoopTests {
    /// An alert's action that cannot be applied (its tenant was deleted) is logged as failed, with its cause.
    @Test func anAlertsActionForADeletedTenantIsLoggedAsFailed() async throws {
        let directory = try MonitorAPITests.configDirectory(rules: """
            rules:
              - name: Quiet
                kind: threshold
                series: ingest_rows_per_second
                window: 1m
                op: "=="
                threshold: 0
                scope: {tenant: gone-a}
                actions:
                  firing: [{action: scale_up, by: 1}]
                  resolved: [{action: scale_down, by: 1}]
            """)
        try await InProcessSluice.with(configDirectory: directory, configure: { $0.monitor.interval = .milliseconds(200) }) { sluice in
            let yaml = tenantYAML("gone-a") + "\nservice_agreement:\n  stream: {min_instances: 1, max_instances: 3}\n"
            _ = try await sluice.createTenant(yaml, contentType: "application/yaml")
            func actions() async throws -> [[String: Any]] {
                try await sluice.send("GET", "/api/v1/stream/actions?tenant=gone-a", token: Self.admin).json()["actions"] as? [[String: Any]] ?? []
            }
            try await waitUntil("the quiet tenant is scaled up", timeout: .seconds(60)) {
                try await actions().contains { $0["action"] as? String == "scale_up" && $0["outcome"] as? String == "applied" }
            }
            let deleted = try await sluice.send("DELETE", "/api/v1/tenants/gone-a?confirm=gone-a", token: Self.admin)
            #expect(deleted.status == 200, "\(deleted.text)")
            try await waitUntil("the resolved alert's action is logged as failed", timeout: .seconds(60)) {
                try await actions().contains { $0["action"] as? String == "scale_down" && $0["outcome"] as? String == "failed" }
            }
            let failed = try #require(try await actions().first)
            #expect((failed["cause"] as? [String: Any])?["status"] as? String == "resolved")
            #expect((failed["message"] as? String)?.contains("gone-a") == true)
        }
    }
}
