import Foundation
import SluiceTestSupport
import Testing

/// Values schemathesis found answered with a 500 or a crash, each now refused with a 400 that names the problem,
/// the service still answering afterwards.
@Suite struct UnstorableValuesTests {
    private static let admin = InProcessSluice.adminToken

    private static func code(_ response: TestHTTPResponse) -> String? {
        (try? response.json()["error"] as? [String: Any])?["code"] as? String
    }

    @Test func hostileValuesAreRefusedClearly() async throws {
        try await InProcessSluice.with { sluice in
            func create(_ definition: String, _ type: String = "application/yaml") async throws -> TestHTTPResponse {
                try await sluice.send("POST", "/api/v1/tenants", token: Self.admin, headers: [("Content-Type", type)],
                                      body: .bytes(Array(definition.utf8)))
            }
            // U+0000 in text: it would cut a text column or fail a jsonb one.
            let nul = try await create(#"{"id": "nul-a", "name": "a\u0000b", "schema": {"type": "record", "name": "r", "fields": [{"name": "k", "type": "string"}]}, "primary_key": ["k"]}"#,
                                       "application/json")
            #expect(nul.status == 400 && Self.code(nul) == "invalid_value", "\(nul.text)")
            // Numbers JSON cannot hold, a rate whose burst overflows, more columns than PostgreSQL allows.
            let infinite = try await create(tenantYAML("inf-a").replacingOccurrences(of: "{name: value, type: double}", with: "{name: value, type: double, default: .inf}"))
            #expect(Self.code(infinite) == "invalid_tenant_definition" && infinite.text.contains("not a finite number"), "\(infinite.text)")
            let rate = try await create(tenantYAML("rate-a", constraints: "constraints: {max_stream_rate: {messages_per_second: 1e19}}"))
            #expect(Self.code(rate) == "invalid_tenant_definition" && rate.text.contains("messages_per_second"), "\(rate.text)")
            let wide = "id: wide-a\nschema: {type: record, name: r, fields: [" + (0..<1601).map { "{name: f\($0), type: string}" }.joined(separator: ", ")
                + "]}\nprimary_key: [f0]\n"
            let tooWide = try await create(wide)
            #expect(Self.code(tooWide) == "invalid_tenant_definition" && tooWide.text.contains("at most 1000 fields"), "\(tooWide.text)")
            // Times before year 1.
            let series = try await sluice.send("GET", "/api/v1/tenants/*/series?metric=availability&from=-62135596801&to=0", token: Self.admin)
            #expect(series.status == 400 && Self.code(series) == "invalid_time", "\(series.text)")
            let silence = try await sluice.send("POST", "/api/v1/silences", token: Self.admin, body: .bytes(Array(
                #"{"matchers": ["tenant=\"a\""], "starts_at": "0000-01-01T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z", "comment": "c"}"#.utf8)))
            #expect(silence.status == 400 && Self.code(silence) == "invalid_silence", "\(silence.text)")
            let nulSilence = try await sluice.send("POST", "/api/v1/silences", token: Self.admin, body: .bytes(Array(
                #"{"matchers": ["tenant=\"a\u0000\""], "ends_at": "2030-01-01T00:00:00Z", "comment": "c"}"#.utf8)))
            #expect(nulSilence.status == 400, "\(nulSilence.text)")
            #expect(try await sluice.client.get("/healthz").status == 200, "still serving")
        }
    }
}
