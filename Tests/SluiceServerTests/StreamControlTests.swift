import Foundation
import SluiceTestSupport
import Testing

/// Backpressure, rate limits and the stream manager's instances and actions, through the API.
@Suite struct StreamControlTests {
    private static let admin = InProcessSluice.adminToken

    private static func lines(_ prefix: String, _ count: Int) -> String {
        (0..<count).map { StreamTests.reading(prefix, at: $0, value: 1) }.joined(separator: "\n")
    }

    /// `tenantYAML(id)` with `service_agreement.stream` set to `stream` (a YAML flow mapping).
    private static func streamTenant(_ id: String, _ stream: String) -> String {
        tenantYAML(id) + "\nservice_agreement:\n  stream: \(stream)\n"
    }

    private static func code(_ response: TestHTTPResponse) -> String? {
        (try? response.json()["error"] as? [String: Any])?["code"] as? String
    }

    private static func instances(_ sluice: InProcessSluice, _ tenant: String, token: String = admin) async throws -> [String: Any] {
        try await sluice.send("GET", "/api/v1/tenants/\(tenant)/stream/instances", token: token).json()
    }

    private static func act(_ sluice: InProcessSluice, _ tenant: String, _ body: String) async throws -> TestHTTPResponse {
        try await sluice.send("POST", "/api/v1/tenants/\(tenant)/stream/actions", token: admin,
                              headers: [("Content-Type", "application/json")], body: .bytes(Array(body.utf8)))
    }

    @Test func aFullQueueRefusesWholeRequestsWithRetryAfterAndDrainsOnceInstancesRun() async throws {
        try await InProcessSluice.with { sluice in
            let yaml = Self.streamTenant("queue-a", "{max_queue_messages: 50, min_instances: 0}")
            let key = try await sluice.createTenant(yaml, contentType: "application/yaml")
            // No instance may run: requests stay queued until the queue is full.
            try await StreamTests.setInstances(sluice, "queue-a", 0)
            let queued = (0..<2).map { index in
                Task { try await StreamTests.post(sluice, "queue-a", key: key, Self.lines("q\(index)", 20)) }
            }
            try await waitUntil("two requests are queued", timeout: .seconds(60)) {
                try await sluice.client.get("/metrics").text.contains("sluice_stream_queue_messages{tenant=\"queue-a\"} 40")
            }
            for _ in 0..<3 {
                let refused = try await StreamTests.post(sluice, "queue-a", key: key, Self.lines("refused", 20))
                #expect(refused.status == 429 && Self.code(refused) == "backpressure", "\(refused.text)")
                #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
            }
            try await StreamTests.setInstances(sluice, "queue-a", 1)
            for task in queued {
                let response = try await task.value
                let accepted = try response.json()["accepted"] as? Int
                #expect(response.status == 200 && accepted == 20, "\(response.text)")
            }
            let refusedRows = try sluice.query("SELECT count(*)::int AS n FROM \"queue-a\".readings WHERE sensor = 'refused'")
            #expect(try refusedRows.first?.decode(Int.self, "n") == 0, "a 429 takes none of its messages")
            let metrics = try await sluice.client.get("/metrics").text
            #expect(metricValue(metrics, "sluice_stream_throttled_total{tenant=\"queue-a\",reason=\"backpressure\"}") == 3)
            #expect(metricValue(metrics, "sluice_stream_requests_total{tenant=\"queue-a\",code=\"429\"}") == 3)
        }
    }

    @Test func theProcessMemoryBudgetBoundsWhatAllTenantsHold() async throws {
        let body = Self.lines("held", 150)
        // Room for four such requests, not five.
        try await InProcessSluice.with(configure: { $0.stream.memoryBudget = body.utf8.count * 9 / 2 }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("budget-a"), contentType: "application/yaml")
            let otherKey = try await sluice.createTenant(tenantYAML("budget-b"), contentType: "application/yaml")
            for tenant in ["budget-a", "budget-b"] { try await StreamTests.setInstances(sluice, tenant, 0) }
            let held = (0..<4).map { _ in Task { try await StreamTests.post(sluice, "budget-a", key: key, body) } }
            try await waitUntil("four requests are queued", timeout: .seconds(60)) {
                try await sluice.client.get("/metrics").text.contains("sluice_stream_queue_messages{tenant=\"budget-a\"} 600")
            }
            // The budget is the process's: another tenant, with room in its own queue, is refused too.
            let refused = try await StreamTests.post(sluice, "budget-b", key: otherKey, body)
            #expect(refused.status == 429 && Self.code(refused) == "backpressure", "\(refused.text)")
            #expect(refused.header("Retry-After") != nil)
            for tenant in ["budget-a", "budget-b"] { try await StreamTests.setInstances(sluice, tenant, 1) }
            for task in held { #expect(try await task.value.status == 200) }
            // Answered requests gave their bytes back.
            #expect(try await StreamTests.post(sluice, "budget-b", key: otherKey, body).status == 200)
        }
    }

    @Test func theMessageRateAndThrottlesLimitATenant() async throws {
        try await InProcessSluice.with { sluice in
            let limited = tenantYAML("rate-a", constraints: "constraints: {max_stream_rate: {messages_per_second: 1, burst: 20}}")
            let key = try await sluice.createTenant(limited, contentType: "application/yaml")
            let first = try await StreamTests.post(sluice, "rate-a", key: key, Self.lines("r", 20))
            #expect(first.status == 200, "\(first.text)")
            let second = try await StreamTests.post(sluice, "rate-a", key: key, Self.lines("r2", 20))
            #expect(second.status == 429 && Self.code(second) == "rate_limited", "\(second.text)")
            #expect(Int(second.header("Retry-After") ?? "") ?? 0 >= 2)

            // A throttle tightens an unlimited tenant until it is lifted.
            let otherKey = try await sluice.createTenant(tenantYAML("rate-b"), contentType: "application/yaml")
            let throttled = try await Self.act(sluice, "rate-b", #"{"action": "throttle", "messages_per_second": 0.01, "for_seconds": 600}"#)
            #expect(throttled.status == 200, "\(throttled.text)")
            #expect(try await StreamTests.post(sluice, "rate-b", key: otherKey, Self.lines("t1", 5)).status == 200)
            let refused = try await StreamTests.post(sluice, "rate-b", key: otherKey, Self.lines("t2", 5))
            #expect(refused.status == 429 && Self.code(refused) == "rate_limited")
            let state = try await Self.instances(sluice, "rate-b")
            #expect((state["throttle"] as? [String: Any])?["messages_per_second"] as? Double == 0.01)
            #expect(try await Self.act(sluice, "rate-b", #"{"action": "resume"}"#).status == 200)
            #expect(try await StreamTests.post(sluice, "rate-b", key: otherKey, Self.lines("t3", 5)).status == 200)
            #expect(try await Self.instances(sluice, "rate-b")["throttle"] == nil)
        }
    }

    @Test func instancesFollowTheDesiredCountWithinTheTenantsBounds() async throws {
        try await InProcessSluice.with { sluice in
            let idle = Self.streamTenant("inst-idle", "{min_instances: 0, max_instances: 4, idle_stop_seconds: 1}")
            let idleKey = try await sluice.createTenant(idle, contentType: "application/yaml")
            let state = try await Self.instances(sluice, "inst-idle", token: idleKey)
            #expect(state["running"] as? Int == 0 && state["desired"] as? Int == 1 && state["min"] as? Int == 0 && state["max"] as? Int == 4)
            // The first message starts an instance (none ran: its answer is proof); it stops once idle.
            #expect(try await StreamTests.post(sluice, "inst-idle", key: idleKey, Self.lines("a", 3)).status == 200)
            try await waitUntil("the idle instance stops", timeout: .seconds(60), interval: .milliseconds(100)) {
                try await Self.instances(sluice, "inst-idle")["running"] as? Int == 0
            }

            let yaml = Self.streamTenant("inst-a", "{min_instances: 0, max_instances: 4}")
            let key = try await sluice.createTenant(yaml, contentType: "application/yaml")

            let put = try await sluice.send("PUT", "/api/v1/tenants/inst-a/stream/instances", token: Self.admin,
                                            body: .bytes(Array(#"{"desired": 3}"#.utf8)))
            let putDesired = try put.json()["desired"] as? Int
            #expect(put.status == 200 && putDesired == 3, "\(put.text)")
            let outside = try await sluice.send("PUT", "/api/v1/tenants/inst-a/stream/instances", token: Self.admin,
                                                body: .bytes(Array(#"{"desired": 9}"#.utf8)))
            #expect(outside.status == 422 && Self.code(outside) == "out_of_bounds", "\(outside.text)")
            let tenantPut = try await sluice.send("PUT", "/api/v1/tenants/inst-a/stream/instances", token: key,
                                                  body: .bytes(Array(#"{"desired": 2}"#.utf8)))
            #expect(tenantPut.status == 403, "only an admin sets the desired count")
            #expect(try await StreamTests.post(sluice, "inst-a", key: key, Self.lines("b", 3)).status == 200, "the first message starts them")
            try await waitUntil("three instances run", timeout: .seconds(60)) {
                try await Self.instances(sluice, "inst-a")["running"] as? Int == 3
            }

            let down = try await Self.act(sluice, "inst-a", #"{"action": "scale_down", "by": 1}"#)
            #expect((try down.json()["state"] as? [String: Any])?["desired"] as? Int == 2, "\(down.text)")
            let up = try await Self.act(sluice, "inst-a", #"{"action": "scale_up", "by": 5}"#)
            let upAnswer = try up.json()
            #expect(upAnswer["outcome"] as? String == "clamped" && (upAnswer["state"] as? [String: Any])?["desired"] as? Int == 4)
            let set = try await Self.act(sluice, "inst-a", #"{"action": "set_desired", "n": 1}"#)
            #expect(try set.json()["outcome"] as? String == "applied")
            let bad = try await Self.act(sluice, "inst-a", #"{"action": "explode"}"#)
            #expect(bad.status == 400 && Self.code(bad) == "invalid_action")
            let missing = try await Self.act(sluice, "inst-a", #"{"action": "scale_up"}"#)
            #expect(missing.status == 400 && Self.code(missing) == "invalid_action")
            // A rate whose wait between messages would not fit a Duration (it crashed the service) is refused.
            let tiny = try await Self.act(sluice, "inst-a", #"{"action": "throttle", "messages_per_second": 1e-300, "for_seconds": 60}"#)
            #expect(tiny.status == 400 && Self.code(tiny) == "invalid_action")
            #expect(try await Self.act(sluice, "inst-a", #"{"action": "throttle", "messages_per_second": 5, "for_seconds": 60}"#).status == 200)
            #expect(try await Self.act(sluice, "inst-a", #"{"action": "resume"}"#).status == 200)

            let log = try await sluice.send("GET", "/api/v1/stream/actions?tenant=inst-a", token: Self.admin).json()
            let actions = try #require(log["actions"] as? [[String: Any]])
            #expect(actions.map { $0["action"] as? String } == ["resume", "throttle", "set_desired", "scale_up", "scale_down",
                                                                "set_desired", "set_desired"])
            #expect(actions.map { $0["outcome"] as? String } == ["applied", "applied", "applied", "clamped", "applied", "rejected", "applied"])
            #expect(actions.allSatisfy { $0["source"] as? String == "api" && $0["at"] is String && $0["state"] is [String: Any] })
            let metrics = try await sluice.client.get("/metrics").text
            #expect(metricValue(metrics, "sluice_stream_actions_total{tenant=\"inst-a\",action=\"scale_up\",source=\"api\",outcome=\"clamped\"}") == 1)
            #expect(metricValue(metrics, "sluice_stream_instances{tenant=\"inst-a\",state=\"desired\"}") == 1)
            #expect(try await sluice.send("GET", "/api/v1/stream/actions", token: key).status == 403)
        }
    }

    @Test func minimumInstancesRunWithoutTraffic() async throws {
        try await InProcessSluice.with { sluice in
            let yaml = Self.streamTenant("inst-m", "{min_instances: 2, max_instances: 3}")
            _ = try await sluice.createTenant(yaml, contentType: "application/yaml")
            // Started when the tenant is created, without a message.
            try await waitUntil("the minimum instances run", timeout: .seconds(60), interval: .milliseconds(100)) {
                try await Self.instances(sluice, "inst-m")["running"] as? Int == 2
            }
        }
    }
}
