import Foundation
import SluiceCompression
import SluiceTestSupport
import Testing

/// `GET /api/v1/tenants/{tenant}/records`: keyset pages that stay complete while rows arrive, every filter kind,
/// chosen fields, exports as NDJSON and CSV (gzip'd on request), clear errors, and no way into another tenant's.
@Suite struct RecordsAPITests {
    private static let admin = InProcessSluice.adminToken

    /// `count` readings `s-0000`… from `first`, one a millisecond from 2023-11-14T22:13:20Z; every tenth has a note.
    private static func readings(_ count: Int, first: Int = 0, value: Double = 1.5) -> String {
        "sensor,at,value,note\n" + (first..<first + count).map { index in
            "s-\(String(format: "%04d", index)),\(1_700_000_000_000 + index),\(value + Double(index)),\(index % 10 == 0 ? "tenth" : "")"
        }.joined(separator: "\n") + "\n"
    }

    private static func code(_ response: TestHTTPResponse) -> String? {
        (try? response.json()["error"] as? [String: Any])?["code"] as? String
    }

    private static func records(_ response: TestHTTPResponse) throws -> [[String: Any]] {
        try response.json()["records"] as? [[String: Any]] ?? []
    }

    @Test func pagesWalkEveryRecordOnceInKeyOrderWhileRowsArrive() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("rec-pages"), contentType: "application/yaml")
            _ = try await sluice.uploadAndWait("rec-pages", key: key, name: "first.csv", Self.readings(250, first: 0))
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let response = try await sluice.send("GET", "/api/v1/tenants/rec-pages/records?limit=60" + (cursor.map { "&after=\($0)" } ?? ""), token: key)
                #expect(response.status == 200, "\(response.text)")
                let page = try response.json()
                seen += try Self.records(response).compactMap { $0["sensor"] as? String }
                #expect(page["truncated"] as? Bool == false && page["count"] as? Int == (page["records"] as? [Any])?.count)
                cursor = page["next"] as? String
                pages += 1
                // Rows arrive while the client pages: before its position and after it.
                if pages == 2 { _ = try await sluice.uploadAndWait("rec-pages", key: key, name: "more.csv", Self.readings(40, first: 230)) }
            } while cursor != nil && pages < 20
            let expected = (0..<270).map { "s-" + String(format: "%04d", $0) }
            #expect(seen == seen.sorted() && Set(seen).count == seen.count, "primary-key order, each record once")
            #expect(Set(expected.prefix(250)).isSubset(of: Set(seen)), "every record there when paging began is on a page")
            #expect(seen.last == "s-0269", "records added after the client's position are reached")
        }
    }

    @Test func filtersFieldsAndTypesAnswerAsTheSchemaSays() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("rec-filters"), contentType: "application/yaml")
            let first = try await sluice.uploadAndWait("rec-filters", key: key, name: "a.csv", Self.readings(50))
            _ = try await sluice.uploadAndWait("rec-filters", key: key, name: "b.csv", Self.readings(50, first: 50))
            func get(_ query: String) async throws -> TestHTTPResponse {
                try await sluice.send("GET", "/api/v1/tenants/rec-filters/records?\(query)", token: key)
            }
            let one = try Self.records(try await get("sensor=s-0010"))
            #expect(one.count == 1)
            let record = try #require(one.first)
            #expect(record["sensor"] as? String == "s-0010" && record["value"] as? Double == 11.5 && record["note"] as? String == "tenth")
            #expect(record["at"] as? String == "2023-11-14T22:13:20.010Z")
            #expect(record["_sluice_source_id"] as? String == first.id && (record["_sluice_ingested_at"] as? String)?.hasSuffix("Z") == true)
            _ = try await sluice.uploadAndWait("rec-filters", key: key, name: "c.ndjson", #"{"sensor": "n-1", "at": 1, "value": -2, "note": null}"#)
            let null = try Self.records(try await get("sensor=n-1")).first
            #expect(null?["note"] is NSNull && null?["at"] as? String == "1970-01-01T00:00:00.001Z" && null?["value"] as? Double == -2)

            // Ranges: Unix milliseconds or ISO 8601 for times; numbers; strings.
            #expect(try Self.records(try await get("at.gte=1700000000020&at.lt=1700000000025")).count == 5)
            #expect(try Self.records(try await get("at.gte=2023-11-14T22:13:20.090Z")).count == 10)
            #expect(try Self.records(try await get("value.gt=95.5")).count == 5)
            #expect(try Self.records(try await get("sensor.lte=s-0002&sensor.gt=n-1")).count == 3)
            #expect(try Self.records(try await get("source_id=\(first.id)&limit=1000")).count == 50)
            #expect(try Self.records(try await get("source_id=\(first.id)&sensor.gte=s-0040")).count == 10)
            let chosen = try Self.records(try await get("fields=value,sensor&limit=2"))
            #expect(chosen.count == 2 && chosen.allSatisfy { Set($0.keys) == ["sensor", "value"] })

            // Pages of chosen fields under a filter: every matching record once, in order.
            var cursor: String?
            var sensors: [String] = []
            repeat {
                let page = try await get("fields=sensor&sensor.gte=s-0020&sensor.lt=s-0045&limit=7" + (cursor.map { "&after=\($0)" } ?? ""))
                let records = try Self.records(page)
                #expect(records.allSatisfy { Array($0.keys) == ["sensor"] })
                sensors += records.compactMap { $0["sensor"] as? String }
                cursor = try page.json()["next"] as? String
            } while cursor != nil && sensors.count < 100
            #expect(sensors == (20..<45).map { "s-" + String(format: "%04d", $0) })

            // Mistakes are named; none reaches the store unchecked (the smallest Int64 once crashed the service).
            let lowest = try await get("_sluice_ingested_at=-9223372036854775808")
            #expect(lowest.status == 400 && Self.code(lowest) == "invalid_filter", "\(lowest.text)")
            let unknown = try await get("colour=red")
            #expect(unknown.status == 400 && unknown.text.contains("unknown_field") && unknown.text.contains("sensor, at, value, note"), "\(unknown.text)")
            #expect(try await get("fields=sensor,colour").status == 400)
            for bad in ["value.gt=lots", "at.gte=yesterday", "value.near=3", "limit=0", "limit=10001", "after=bm90LWEtY3Vyc29y", "format=xml"] {
                let answer = try await get(bad)
                let code = (try answer.json()["error"] as? [String: Any])?["code"] as? String
                #expect(answer.status == 400 && code != nil, "\(bad): \(answer.text)")
            }
        }
    }

    @Test func everyFieldTypeReadsBackAsItsJSONAndFilters() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant("""
                id: rec-types
                file_types: [ndjson]
                schema:
                  type: record
                  name: things
                  fields:
                    - {name: k, type: string}
                    - {name: n, type: int}
                    - {name: big, type: long}
                    - {name: ratio, type: float}
                    - {name: flag, type: boolean}
                    - {name: day, type: {type: int, logicalType: date}}
                primary_key: [k]
                """, contentType: "application/yaml")
            _ = try await sluice.uploadAndWait("rec-types", key: key, name: "t.ndjson", """
                {"k": "a", "n": -3, "big": 9007199254740993, "ratio": 0.5, "flag": true, "day": "2026-12-06"}
                {"k": "b", "n": 7, "big": 1, "ratio": 2.25, "flag": false, "day": "2025-01-31"}
                """)
            func get(_ query: String) async throws -> TestHTTPResponse {
                try await sluice.send("GET", "/api/v1/tenants/rec-types/records?\(query)", token: key)
            }
            let page = try await get("fields=k,n,big,ratio,flag,day")
            // Numbers and booleans as JSON numbers and booleans, dates as text, in schema order.
            #expect(page.text.contains(#"{"k":"a","n":-3,"big":9007199254740993,"ratio":0.5,"flag":true,"day":"2026-12-06"}"#), "\(page.text)")
            #expect(page.text.contains(#""flag":false"#))
            #expect(try Self.records(try await get("flag=true")).map { $0["k"] as? String } == ["a"])
            #expect(try Self.records(try await get("day.gte=2026-01-01")).map { $0["k"] as? String } == ["a"])
            #expect(try Self.records(try await get("n.lt=0&ratio.lte=1")).map { $0["k"] as? String } == ["a"])
            let csv = try await get("format=csv&fields=k,flag,day")
            #expect(csv.text == "k,flag,day\na,true,2026-12-06\nb,false,2025-01-31\n", "\(csv.text)")
            for bad in ["flag.gt=true", "flag=yes", "n=1.5", "n=99999999999", "day=2026-13-01", "day=yesterday"] {
                #expect(Self.code(try await get(bad)) == "invalid_filter", "\(bad)")
            }
        }
    }

    @Test func exportsStreamEveryRecordAsNDJSONOrCSV() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.records.exportBatch = 7 }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("rec-export"), contentType: "application/yaml")
            _ = try await sluice.uploadAndWait("rec-export", key: key, name: "a.csv", Self.readings(100))
            let ndjson = try await sluice.send("GET", "/api/v1/tenants/rec-export/records?format=ndjson&sensor.gte=s-0050", token: key)
            #expect(ndjson.status == 200 && ndjson.header("Content-Type") == "application/x-ndjson")
            let lines = ndjson.text.split(separator: "\n")
            #expect(lines.count == 50)
            // A count that is an exact multiple of the batch (7 × 7) ends after its last full batch.
            let multiple = try await sluice.send("GET", "/api/v1/tenants/rec-export/records?format=ndjson&sensor.gte=s-0051", token: key)
            #expect(multiple.text.split(separator: "\n").count == 49)
            let last = try JSONSerialization.jsonObject(with: Data(String(lines.last ?? "").utf8)) as? [String: Any]
            #expect(last?["sensor"] as? String == "s-0099" && last?["value"] as? Double == 100.5)

            let csv = try await sluice.send("GET", "/api/v1/tenants/rec-export/records?format=csv&fields=sensor,note", token: key,
                                            headers: [("Accept-Encoding", "gzip")])
            #expect(csv.status == 200 && csv.header("Content-Encoding") == "gzip")
            #expect(csv.header("Content-Disposition") == "attachment; filename=\"rec-export-records.csv\"")
            let text = String(decoding: try Gzip.decompress(csv.body, maximumSize: 1 << 20), as: UTF8.self)
            let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(rows.first == "sensor,note" && rows[1] == "s-0000,tenth" && rows[2] == "s-0001," && rows.count == 102 && rows.last == "")
        }
    }

    @Test func aQueryOverItsStatementTimeoutIsRefusedClearly() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.records.statementTimeout = .milliseconds(1) }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("rec-slow"), contentType: "application/yaml")
            try sluice.execute("""
                INSERT INTO "rec-slow".readings (sensor, at, value, _sluice_source_id)
                SELECT 's-' || g, to_timestamp(1700000000 + g), g, 'seed' FROM generate_series(1, 100000) AS g
                """)
            // No record has this note: every row's is looked at, far longer than a millisecond.
            let answer = try await sluice.send("GET", "/api/v1/tenants/rec-slow/records?note=absent", token: key)
            #expect(answer.status == 503 && answer.text.contains("query_timeout"), "\(answer.text)")
        }
    }

    @Test func anotherTenantsKeyFindsNothingAndTheAdminReadsAll() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("rec-own"), contentType: "application/yaml")
            let otherKey = try await sluice.createTenant(tenantYAML("rec-other"), contentType: "application/yaml")
            _ = try await sluice.uploadAndWait("rec-own", key: key, name: "a.csv", Self.readings(3))
            for format in ["json", "ndjson", "csv"] {
                let refused = try await sluice.send("GET", "/api/v1/tenants/rec-own/records?format=\(format)", token: otherKey)
                #expect(refused.status == 404 && !refused.text.contains("s-0000"), "\(format): \(refused.text)")
            }
            #expect(try await sluice.send("GET", "/api/v1/tenants/rec-own/records", token: nil).status == 401)
            #expect(try Self.records(try await sluice.send("GET", "/api/v1/tenants/rec-own/records", token: Self.admin)).count == 3)
            #expect(try Self.records(try await sluice.send("GET", "/api/v1/tenants/rec-other/records", token: otherKey)).isEmpty)
        }
    }
}
