import Foundation
import SluiceCompression
import SluiceStore
import SluiceTestSupport
import Testing

/// The stream API over real HTTP into a real database: formats, rejects, clear errors, group commit,
/// idempotency and the window reports.
@Suite struct StreamTests {
    static func reading(_ sensor: String, at: Int, value: Double) -> String {
        #"{"sensor": "\#(sensor)", "at": \#(at), "value": \#(value)}"#
    }

    static func post(_ sluice: InProcessSluice, _ tenant: String, key: String, _ body: String, contentType: String? = nil,
                     headers: [(String, String)] = []) async throws -> TestHTTPResponse {
        try await sluice.send("POST", "/api/v1/tenants/\(tenant)/stream", token: key,
                              headers: headers + (contentType.map { [("Content-Type", $0)] } ?? []), body: .bytes(Array(body.utf8)))
    }

    @Test func messagesAreCommittedBeforeTheAnswerAndRejectsAreExplained() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("stream-a"), contentType: "application/yaml")
            let body = [Self.reading("s1", at: 1, value: 1.5), #"{"sensor": "s2", "at": "noon", "value": 2}"#, "not json",
                        Self.reading("s3", at: 3, value: 3.5)].joined(separator: "\n")
            let response = try await Self.post(sluice, "stream-a", key: key, body)
            #expect(response.status == 200, "\(response.text)")
            let answer = try response.json()
            #expect(answer["accepted"] as? Int == 2 && answer["rejected"] as? Int == 2)
            let rejects = try #require(answer["rejects"] as? [[String: Any]])
            #expect(rejects.map { $0["index"] as? Int } == [1, 2])
            #expect(rejects.first?["reason"] as? String == "invalid_timestamp" && rejects.first?["field"] as? String == "at")
            #expect(rejects.last?["reason"] as? String == "malformed_record")
            let batch = try #require(answer["batch_id"] as? String)

            // Committed when answered: the rows carry the micro-batch, and its rejects are kept under it.
            let rows = try sluice.query("SELECT sensor, _sluice_source_id FROM \"stream-a\".readings ORDER BY sensor")
            #expect(try rows.map { try $0.decode(String.self, "sensor") } == ["s1", "s3"])
            #expect(try rows.allSatisfy { try $0.decode(String.self, "_sluice_source_id") == batch })
            let stored = try sluice.query("SELECT record_number, reason FROM sluice.rejects WHERE batch_id = '\(batch)' ORDER BY 1")
            #expect(try stored.map { try $0.decode(String.self, "reason") } == ["invalid_timestamp", "malformed_record"])
            let listed = try await sluice.send("GET", "/api/v1/tenants/stream-a/stream/batches/\(batch)/rejects", token: key).json()
            let page = try #require(listed["rejects"] as? [[String: Any]])
            #expect(page.map { $0["reason"] as? String } == ["invalid_timestamp", "malformed_record"])
            #expect(page.last?["raw"] as? String == "not json")
            let unknown = try await sluice.send("GET", "/api/v1/tenants/stream-a/stream/batches/b0/rejects", token: key)
            #expect(unknown.status == 404 && unknown.text.contains("batch_not_found"))
            let ledger = try #require(try sluice.query("SELECT accepted, rejected, requests FROM sluice.stream_batches WHERE id = '\(batch)'").first)
            #expect(try ledger.decode(Int.self, "accepted") == 2 && ledger.decode(Int.self, "rejected") == 2)

            // Every message rejected is still an answer, not an error.
            let none = try await Self.post(sluice, "stream-a", key: key, #"{"sensor": "x"}"#)
            let noneAnswer = try none.json()
            #expect(none.status == 200 && noneAnswer["accepted"] as? Int == 0 && noneAnswer["rejected"] as? Int == 1)
        }
    }

    @Test func jsonArraysCSVAndGzipBodiesAreTaken() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("stream-f"), contentType: "application/yaml")
            let array = "[\(Self.reading("j1", at: 1, value: 1)),\n \(Self.reading("j2", at: 2, value: 2))]"
            let json = try await Self.post(sluice, "stream-f", key: key, array, contentType: "application/json")
            let jsonAccepted = try json.json()["accepted"] as? Int
            #expect(json.status == 200 && jsonAccepted == 2, "\(json.text)")

            let csv = try await Self.post(sluice, "stream-f", key: key, "sensor,at,value\nc1,1,1.5\nc2,oops,2\n", contentType: "text/csv")
            #expect(csv.status == 200, "\(csv.text)")
            #expect((try csv.json()["rejects"] as? [[String: Any]])?.first?["index"] as? Int == 1)

            let compressed = try Gzip.compress(Array((Self.reading("g1", at: 1, value: 1) + "\n").utf8))
            let gzip = try await sluice.send("POST", "/api/v1/tenants/stream-f/stream", token: key,
                                             headers: [("Content-Encoding", "gzip")], body: .bytes(compressed))
            // curl's --data-binary sends application/x-www-form-urlencoded: taken as NDJSON, the default.
            let curl = try await Self.post(sluice, "stream-f", key: key, Self.reading("d1", at: 1, value: 1),
                                           contentType: "application/x-www-form-urlencoded")
            #expect(curl.status == 200 && curl.member("accepted") as? Int == 1, "\(curl.text)")
            let gzipAccepted = try gzip.json()["accepted"] as? Int
            #expect(gzip.status == 200 && gzipAccepted == 1, "\(gzip.text)")
            let count = try sluice.query("SELECT count(*)::int AS n FROM \"stream-f\".readings").first?.decode(Int.self, "n")
            #expect(count == 5)
        }
    }

    @Test func badBodiesGetClearErrorsAndNothingIsStored() async throws {
        try await InProcessSluice.with(configure: { $0.stream.maximumRequestBytes = 4096 }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("stream-e"), contentType: "application/yaml")
            func expectError(_ response: TestHTTPResponse, _ status: Int, _ code: String) throws {
                #expect(response.status == status, "\(response.text)")
                #expect((try response.json()["error"] as? [String: Any])?["code"] as? String == code, "\(response.text)")
            }
            try expectError(try await Self.post(sluice, "stream-e", key: key, "hello\nworld"), 400, "malformed_body")
            try expectError(try await Self.post(sluice, "stream-e", key: key, "[{\"sensor\": 1", contentType: "application/json"), 400, "malformed_body")
            try expectError(try await Self.post(sluice, "stream-e", key: key, ""), 400, "malformed_body")
            try expectError(try await Self.post(sluice, "stream-e", key: key, "sensor,at\n\"open", contentType: "text/csv"), 400, "malformed_body")
            try expectError(try await Self.post(sluice, "stream-e", key: key, "{}", contentType: "application/xml"), 415, "unsupported_media_type")
            let large = String(repeating: Self.reading("big", at: 1, value: 1) + "\n", count: 200)
            try expectError(try await Self.post(sluice, "stream-e", key: key, large), 413, "request_too_large")
            let bomb = try Gzip.compress([UInt8](repeating: UInt8(ascii: " "), count: 1 << 20))
            try expectError(try await sluice.send("POST", "/api/v1/tenants/stream-e/stream", token: key,
                                                  headers: [("Content-Encoding", "gzip")], body: .bytes(bomb)), 413, "request_too_large")
            try expectError(try await sluice.send("POST", "/api/v1/tenants/stream-e/stream", token: key,
                                                  headers: [("Content-Encoding", "gzip")], body: .bytes(Array("not gzip".utf8))), 400, "malformed_body")
            try expectError(try await Self.post(sluice, "stream-e", key: "wrong", "{}"), 401, "invalid_api_key")
            try expectError(try await Self.post(sluice, "stream-e", key: key, Self.reading("k", at: 1, value: 1),
                                                headers: [("Idempotency-Key", "")]), 400, "invalid_idempotency_key")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM \"stream-e\".readings").first?.decode(Int.self, "n") == 0)
        }
    }

    /// Sets the tenant's desired stream instances (0 holds its requests in the queue).
    static func setInstances(_ sluice: InProcessSluice, _ tenant: String, _ desired: Int) async throws {
        let response = try await sluice.send("PUT", "/api/v1/tenants/\(tenant)/stream/instances", token: InProcessSluice.adminToken,
                                             body: .bytes(Array(#"{"desired": \#(desired)}"#.utf8)))
        #expect(response.status == 200, "\(response.text)")
    }

    static func queued(_ sluice: InProcessSluice, _ tenant: String) async throws -> Double? {
        metricValue(try await sluice.client.get("/metrics").text, "sluice_stream_queue_messages{tenant=\"\(tenant)\"}")
    }

    @Test func concurrentRequestsShareMicroBatchesAndTheLastValueOfAKeyWins() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("stream-g"), contentType: "application/yaml")
            // Held in the queue (no instance runs), in arrival order: the second after the first.
            try await Self.setInstances(sluice, "stream-g", 0)
            let first = Task { try await Self.post(sluice, "stream-g", key: key, Self.reading("same", at: 1, value: 1)) }
            try await waitUntil("the first request is queued", timeout: .seconds(60)) { try await Self.queued(sluice, "stream-g") == 1 }
            let second = Task { try await Self.post(sluice, "stream-g", key: key, Self.reading("same", at: 1, value: 2)) }
            try await waitUntil("the second request is queued", timeout: .seconds(60)) { try await Self.queued(sluice, "stream-g") == 2 }
            try await Self.setInstances(sluice, "stream-g", 1)
            let (firstResponse, secondResponse) = (try await first.value, try await second.value)
            #expect(firstResponse.status == 200 && secondResponse.status == 200)
            #expect(firstResponse.member("batch_id") as? String == secondResponse.member("batch_id") as? String, "one micro-batch")
            let value = try sluice.query("SELECT value FROM \"stream-g\".readings WHERE sensor = 'same'").first?.decode(Double.self, "value")
            #expect(value == 2)

            // Many concurrent requests, fewer transactions.
            try await Self.setInstances(sluice, "stream-g", 0)
            let requests = 30
            let sent = (0..<requests).map { index in
                Task {
                    let lines = (0..<10).map { Self.reading("c\(index)", at: $0, value: Double(index)) }
                    return try await Self.post(sluice, "stream-g", key: key, lines.joined(separator: "\n")).status
                }
            }
            try await waitUntil("the requests are queued", timeout: .seconds(60)) { try await Self.queued(sluice, "stream-g") == Double(requests * 10) }
            try await Self.setInstances(sluice, "stream-g", 1)
            for task in sent { #expect(try await task.value == 200) }
            let metrics = try await sluice.client.get("/metrics").text
            let batches = try #require(metricValue(metrics, "sluice_stream_commit_batch_messages_count{tenant=\"stream-g\"}"))
            let messages = try #require(metricValue(metrics, "sluice_stream_commit_batch_messages_sum{tenant=\"stream-g\"}"))
            #expect(messages == Double(2 + requests * 10))
            #expect(batches == 2, "group commit: \(batches) transactions for \(requests + 2) requests")
            #expect(metricValue(metrics, "sluice_stream_messages_total{tenant=\"stream-g\",outcome=\"accepted\"}") == Double(2 + requests * 10))
            // Every stream family is exposed, as Prometheus wants it.
            _ = try await sluice.send("POST", "/api/v1/tenants/stream-g/stream/actions", token: InProcessSluice.adminToken,
                                      body: .bytes(Array(#"{"action": "resume"}"#.utf8)))
            let exposition = try await sluice.client.get("/metrics")
            for family in ["messages_total", "bytes_total", "requests_total", "ack_latency_seconds", "queue_messages", "queue_bytes",
                           "throttled_total", "instances", "app_restarts_total", "actions_total", "commit_batch_messages"] {
                #expect(exposition.text.contains("# TYPE sluice_stream_\(family) "), "sluice_stream_\(family)")
            }
            let check = try Promtool.run(["check", "metrics"], input: exposition.body)
            #expect(check.status == 0 && check.output.isEmpty, "promtool: \(check.output)")
        }
    }

    @Test func aRetryWithTheSameKeyGetsTheFirstAnswer() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("stream-i"), contentType: "application/yaml")
            let body = [Self.reading("i1", at: 1, value: 1), "bad"].joined(separator: "\n")
            let first = try await Self.post(sluice, "stream-i", key: key, body, headers: [("Idempotency-Key", "req-1")])
            let retry = try await Self.post(sluice, "stream-i", key: key, body, headers: [("Idempotency-Key", "req-1")])
            #expect(first.status == 200 && retry.status == 200)
            #expect(first.text == retry.text)
            let batches = try sluice.query("SELECT count(*)::int AS n FROM sluice.stream_batches").first?.decode(Int.self, "n")
            #expect(batches == 1, "the retry was not ingested again")
            let reused = try await Self.post(sluice, "stream-i", key: key, Self.reading("i2", at: 1, value: 1),
                                             headers: [("Idempotency-Key", "req-1")])
            #expect(reused.status == 422 && reused.text.contains("idempotency_key_reused"), "\(reused.text)")

            // Concurrent duplicates: one is ingested, all get its answer.
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        let response = try await Self.post(sluice, "stream-i", key: key, Self.reading("i3", at: 3, value: 3),
                                                           headers: [("Idempotency-Key", "req-2")])
                        #expect(response.status == 200, "\(response.text)")
                        return response.text
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(answers.count == 1)
            let total = try sluice.query("SELECT count(*)::int AS n FROM sluice.stream_batches").first?.decode(Int.self, "n")
            #expect(total == 2)
        }
    }

    @Test func eachWindowReportsWhatWasSentAcceptedAndRejected() async throws {
        try await InProcessSluice.with(configure: { $0.stream.window = .milliseconds(500) }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("stream-w"), contentType: "application/yaml")
            var sent = 0, rejected = 0
            for round in 0..<5 {
                let lines = (0..<20).map { Self.reading("w\(round)", at: $0, value: 1) } + ["bad \(round)"]
                let response = try await Self.post(sluice, "stream-w", key: key, lines.joined(separator: "\n"))
                #expect(response.status == 200)
                sent += lines.count
                rejected += 1
            }
            var reports: [[String: Any]] = []
            try await waitUntil("the windows are reported", timeout: .seconds(60)) {
                let response = try await sluice.send("GET", "/api/v1/tenants/stream-w/reports", token: key)
                reports = (try response.json()["reports"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stream" }
                return reports.reduce(0) { $0 + ($1["rows_total"] as? Int ?? 0) } == sent
            }
            #expect(reports.reduce(0) { $0 + ($1["rows_ingested"] as? Int ?? 0) } == sent - rejected)
            #expect(reports.reduce(0) { $0 + ($1["rows_rejected"] as? Int ?? 0) } == rejected)
            let bytes = reports.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }
            #expect(bytes > 0)
            // A window may hold messages received but committed in the next one: only committed ones count.
            for report in reports where report["rows_total"] as? Int ?? 0 > 0 {
                let rejectedHere = report["rows_rejected"] as? Int ?? 0, ingestedHere = report["rows_ingested"] as? Int ?? 0
                #expect(report["outcome"] as? String == (rejectedHere == 0 ? "succeeded" : ingestedHere == 0 ? "failed" : "partial"))
                #expect(report["latency_seconds"] is Double && report["started_at"] is String && report["finished_at"] is String)
                let details = try #require(report["stream"] as? [String: Any])
                #expect(details["micro_batches"] as? Int ?? 0 >= 1 && details["latency_p95_seconds"] is Double)
            }
            let received = reports.reduce(0) { $0 + ((($1["stream"] as? [String: Any])?["messages_received"] as? Int) ?? 0) }
            #expect(received == sent)
            let summary = try await sluice.send("GET", "/api/v1/reports/summary", token: InProcessSluice.adminToken).json()
            let tenant = try #require((summary["tenants"] as? [[String: Any]])?.first { $0["tenant_id"] as? String == "stream-w" })
            // Windows in which instances ran without traffic keep being reported.
            #expect(tenant["rows_total"] as? Int == sent && tenant["stream_windows"] as? Int ?? 0 >= reports.count)
        }
    }
}

/// The value of the series `series` (its name and labels exactly as exposed) in a Prometheus exposition.
func metricValue(_ exposition: String, _ series: String) -> Double? {
    exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
}

extension TestHTTPResponse {
    /// A member of the JSON object answered; `nil` when absent, or when the body is not a JSON object.
    func member(_ name: String) -> Any? { (try? json())?[name] }
}
