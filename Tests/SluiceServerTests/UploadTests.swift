import Crypto
import Foundation
import SluiceCompression
import SluiceStore
import SluiceTestSupport
import Testing

/// Batch uploads into per-tenant staging, against a real service and PostgreSQL over loopback.
@Suite struct UploadTests {
    static let csv = Array("sensor,at,value,note\ns1,1700000000000,1.5,\ns2,1700000000000,2.5,ok\n".utf8)

    private func ledgerCount(_ sluice: InProcessSluice, _ tenant: String) throws -> Int {
        let connection = try PostgresConnection(connectionString: sluice.databaseURL)
        defer { connection.close() }
        return try connection.query("SELECT count(*)::int AS n FROM sluice.files WHERE tenant_id = $1", [.init(tenant)])
            .first?.decode(Int.self, "n") ?? -1
    }

    private func upload(_ sluice: InProcessSluice, _ tenant: String, key: String?, name: String = "data.csv",
                        _ bytes: [UInt8], query: String = "") async throws -> TestHTTPResponse {
        try await sluice.send("POST", "/api/v1/tenants/\(tenant)/files?name=\(name)\(query)", token: key, body: .bytes(bytes))
    }

    @Test func rawAndMultipartUploadsAreStagedAndRecorded() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let raw = try await upload(sluice, "acme", key: key, Self.csv)
            #expect(raw.status == 201, "\(raw.text)")
            let body = try raw.json()
            let id = try #require(body["id"] as? String)
            #expect(body["state"] as? String == "received")
            #expect(body["size"] as? Int == Self.csv.count)
            #expect(body["sha256"] as? String == SHA256.hash(data: Self.csv).map { String(format: "%02x", $0) }.joined())
            #expect(sluice.stagedFiles("acme") == ["\(id)-data.csv"])
            let staged = try Data(contentsOf: URL(fileURLWithPath: "\(sluice.dataDirectory)/staging/acme/in/\(id)-data.csv"))
            #expect(Array(staged) == Self.csv)

            let fetched = try await sluice.send("GET", "/api/v1/tenants/acme/files/\(id)", token: key)
            #expect(fetched.status == 200)
            #expect(try fetched.json()["sha256"] as? String == body["sha256"] as? String)

            // What `curl -F file=@readings.csv` sends.
            let boundary = "------------------------d74496d66958873e"
            var multipart = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"readings.csv\"\r\nContent-Type: text/csv\r\n\r\n".utf8)
            let other = Array("sensor,at,value,note\ns9,1700000000001,9.5,\n".utf8)
            multipart += other + Array("\r\n--\(boundary)--\r\n".utf8)
            let form = try await sluice.send("POST", "/api/v1/tenants/acme/files", token: key,
                                             headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")],
                                             body: .bytes(multipart))
            #expect(form.status == 201, "\(form.text)")
            #expect(try form.json()["size"] as? Int == other.count)
            #expect(try form.json()["name"] as? String == "readings.csv")


            let list = try await sluice.send("GET", "/api/v1/tenants/acme/files", token: key)
            #expect((try list.json()["files"] as? [[String: Any]])?.count == 2)
            let firstPage = try await sluice.send("GET", "/api/v1/tenants/acme/files?limit=1", token: key)
            let newest = try #require((try firstPage.json()["files"] as? [[String: Any]])?.first?["id"] as? String)
            let cursor = try #require(try firstPage.json()["next"] as? String)
            let secondPage = try await sluice.send("GET", "/api/v1/tenants/acme/files?limit=1&before=\(cursor)", token: key)
            let older = try #require((try secondPage.json()["files"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(older == id)
            #expect(newest != id)
            #expect(try ledgerCount(sluice, "acme") == 2)

            let metrics = try await sluice.client.get("/metrics").text
            #expect(metrics.contains("sluice_uploads_total{tenant=\"acme\",outcome=\"accepted\"} 2"), "\(metrics)")
            #expect(metrics.contains("sluice_upload_received_bytes_total{tenant=\"acme\"} \(Double(Self.csv.count + other.count))"))
            #expect(metrics.contains("sluice_staged_files{tenant=\"acme\"} 2"))
            #expect(metrics.contains("sluice_upload_duration_seconds_count{tenant=\"acme\"} 2"))
            #expect(metrics.contains("sluice_storage_quota_usage_ratio{tenant=\"acme\"}"))
            #expect(metrics.contains("sluice_ingest_queue_oldest_age_seconds{tenant=\"acme\"}"))

            // A second file part is refused, not dropped; a multipart type without a boundary is malformed.
            var two = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.csv\"\r\n\r\n".utf8) + other
            two += Array("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.csv\"\r\n\r\n".utf8) + other
            two += Array("\r\n--\(boundary)--\r\n".utf8)
            let twice = try await sluice.send("POST", "/api/v1/tenants/acme/files", token: key,
                                              headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")], body: .bytes(two))
            #expect(twice.status == 400 && twice.errorCode == "one_file_per_upload", "\(twice.text)")
            let unbounded = try await sluice.send("POST", "/api/v1/tenants/acme/files", token: key,
                                                  headers: [("Content-Type", "multipart/form-data")], body: .bytes(multipart))
            #expect(unbounded.status == 400 && unbounded.errorCode == "malformed_multipart", "\(unbounded.text)")
        }
    }

    @Test func duplicateContentAnswersTheExistingFileUnlessForced() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let first = try await upload(sluice, "acme", key: key, Self.csv)
            let again = try await upload(sluice, "acme", key: key, name: "other.csv", Self.csv)
            #expect(again.status == 200)
            #expect(try again.json()["duplicate"] as? Bool == true)
            #expect(try again.json()["id"] as? String == (try first.json()["id"] as? String))
            #expect(sluice.stagedFiles("acme").count == 1)
            let forced = try await upload(sluice, "acme", key: key, Self.csv, query: "&force=true")
            #expect(forced.status == 201)
            #expect(try forced.json()["id"] as? String != (try first.json()["id"] as? String))
            #expect(try ledgerCount(sluice, "acme") == 2)
        }
    }

    @Test func aMissingStagingDirectoryIsRecreated() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            try FileManager.default.removeItem(atPath: "\(sluice.dataDirectory)/staging/acme")
            let response = try await upload(sluice, "acme", key: key, Self.csv)
            #expect(response.status == 201, "\(response.text)")
            #expect(sluice.stagedFiles("acme").count == 1)
        }
    }

    @Test func everyRejectionHasItsCodeAndLeavesNothingBehind() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme", fileTypes: "[csv, ndjson]", constraints: """
                constraints:
                  max_file_size: 64KiB
                  max_staged_files: 2
                  storage_quota: 200KiB
                """), contentType: "application/yaml")
            func expectRejected(_ response: TestHTTPResponse, _ status: Int, _ code: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
                #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
                #expect(response.errorCode == code, sourceLocation: sourceLocation)
                #expect(sluice.stagedFiles("acme").isEmpty, sourceLocation: sourceLocation)
                #expect(try ledgerCount(sluice, "acme") == 0, sourceLocation: sourceLocation)
            }
            try expectRejected(try await upload(sluice, "acme", key: nil, Self.csv), 401, "unauthorized")
            try expectRejected(try await upload(sluice, "acme", key: "sluice_nope", Self.csv), 401, "invalid_api_key")
            try expectRejected(try await upload(sluice, "acme", key: key, name: "data.xlsx", Self.csv), 415, "file_type_not_allowed")
            // A zip (what an .xlsx is) named .csv.
            let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0] + [UInt8](repeating: 0x41, count: 200)
            try expectRejected(try await upload(sluice, "acme", key: key, zip), 415, "file_type_not_allowed")
            try expectRejected(try await upload(sluice, "acme", key: key, name: "data.ndjson", Array("[1,2]".utf8)),
                               415, "file_type_not_allowed")
            // Declared too large: refused before the body is read.
            try expectRejected(try await upload(sluice, "acme", key: key, [UInt8](repeating: 0x61, count: 70 * 1024)),
                               413, "file_too_large")
            // Undeclared size (multipart framing allowance) but too large: cut while streaming.
            let boundary = "xYzZy"
            var form = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n".utf8)
            form += [UInt8](repeating: 0x61, count: 100 * 1024) + Array("\r\n--\(boundary)--\r\n".utf8)
            let cut = try await sluice.send("POST", "/api/v1/tenants/acme/files", token: key,
                                            headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")],
                                            body: .bytes(form))
            try expectRejected(cut, 413, "file_too_large")

            // Staged-file limit, then quota.
            #expect(try await upload(sluice, "acme", key: key, name: "a.csv", Array("a\n1\n".utf8)).status == 201)
            #expect(try await upload(sluice, "acme", key: key, name: "b.csv", Array("b\n2\n".utf8)).status == 201)
            let tooMany = try await upload(sluice, "acme", key: key, name: "c.csv", Array("c\n3\n".utf8))
            #expect(tooMany.status == 429)
            #expect(tooMany.errorCode == "too_many_staged_files")
            #expect(sluice.stagedFiles("acme").count == 2)
        }
    }

    @Test func quotaAndRateLimitsAnswer507And429() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("quota", constraints: """
                constraints:
                  max_file_size: 64KiB
                  storage_quota: 100KiB
                """), contentType: "application/yaml")
            #expect(try await upload(sluice, "quota", key: key, name: "a.csv", [UInt8](repeating: 0x61, count: 60 * 1024)).status == 201)
            let over = try await upload(sluice, "quota", key: key, name: "b.csv", [UInt8](repeating: 0x62, count: 60 * 1024))
            #expect(over.status == 507)
            #expect(over.errorCode == "quota_exceeded")
            #expect(sluice.stagedFiles("quota").count == 1)

            let limited = try await sluice.createTenant(tenantYAML("slow", constraints: """
                constraints:
                  max_ingest_rate: {bytes_per_second: 1KiB, burst: 8KiB}
                """), contentType: "application/yaml")
            #expect(try await upload(sluice, "slow", key: limited, name: "a.csv", [UInt8](repeating: 0x61, count: 64 * 1024)).status == 201)
            let throttled = try await upload(sluice, "slow", key: limited, name: "b.csv", Array("x\n".utf8))
            #expect(throttled.status == 429)
            #expect(throttled.errorCode == "rate_limited")
            #expect(Int(throttled.header("Retry-After") ?? "") ?? 0 >= 1)
            #expect(sluice.stagedFiles("slow").count == 1)
        }
    }

    @Test func keysOnlyOpenTheirOwnTenant() async throws {
        try await InProcessSluice.with { sluice in
            let keyA = try await sluice.createTenant(tenantYAML("alpha"), contentType: "application/yaml")
            let keyB = try await sluice.createTenant(tenantYAML("beta"), contentType: "application/yaml")
            let fileA = try await upload(sluice, "alpha", key: keyA, Self.csv)
            let idA = try #require(try fileA.json()["id"] as? String)
            for (method, path) in [("GET", "/api/v1/tenants/alpha"), ("GET", "/api/v1/tenants/alpha/files"),
                                   ("GET", "/api/v1/tenants/alpha/files/\(idA)"), ("POST", "/api/v1/tenants/alpha/files?name=x.csv"),
                                   ("GET", "/api/v1/tenants/nonexistent/files")] {
                let response = try await sluice.send(method, path, token: keyB, body: method == "POST" ? .bytes(Self.csv) : nil)
                #expect(response.status == 404, "\(method) \(path)")
                #expect(response.errorCode == "tenant_not_found", "\(method) \(path)")
            }
            #expect(try ledgerCount(sluice, "alpha") == 1)
        }
    }

    @Test func pathTricksStayInsideTheStagingDirectory() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            for (index, name) in ["..%2F..%2F..%2Fetc%2Fpasswd.csv", "%2Ftmp%2Fabs.csv", "a%01b%1B%7Fc.csv",
                                  String(repeating: "n", count: 600) + ".csv"].enumerated() {
                let response = try await upload(sluice, "acme", key: key, name: name, Self.csv + Array("s\(index),1,1,\n".utf8))
                #expect(response.status == 201, "\(name): \(response.text)")
                let stored = try #require(try response.json()["stored_name"] as? String)
                #expect(!stored.contains("/") && !stored.hasPrefix(".") && stored.utf8.count <= 100, "\(stored)")
            }
            #expect(sluice.stagedFiles("acme").count == 4)
            #expect(!FileManager.default.fileExists(atPath: "\(sluice.dataDirectory)/staging/etc"))
            #expect(!FileManager.default.fileExists(atPath: "/tmp/abs.csv"))
        }
    }

    @Test func concurrentUploadsByTwoTenants() async throws {
        try await InProcessSluice.with { sluice in
            let keys = [("alpha", try await sluice.createTenant(tenantYAML("alpha"), contentType: "application/yaml")),
                        ("beta", try await sluice.createTenant(tenantYAML("beta"), contentType: "application/yaml"))]
            try await withThrowingTaskGroup(of: Int.self) { group in
                for (tenant, key) in keys {
                    for index in 0..<8 {
                        group.addTask {
                            let bytes = Array("sensor,at,value,note\n\(tenant)-\(index),1,1,\n".utf8) + [UInt8](repeating: 0x0A, count: 200_000)
                            return try await self.upload(sluice, tenant, key: key, name: "f\(index).csv", bytes).status
                        }
                    }
                }
                for try await status in group { #expect(status == 201) }
            }
            #expect(try ledgerCount(sluice, "alpha") == 8)
            #expect(try ledgerCount(sluice, "beta") == 8)
            #expect(sluice.stagedFiles("alpha").count == 8)
        }
    }

}
