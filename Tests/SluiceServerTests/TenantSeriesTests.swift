import Foundation
import SluiceTestSupport
import Testing

/// Per-tenant metric series exist only for tenants that exist: requests naming made-up tenants create none,
/// and a deleted tenant's series (counters and histograms included) go with it, as do its reports' sums (a
/// tenant created again with its id starts with no history).
@Suite struct TenantSeriesTests {
    private func metrics(_ sluice: InProcessSluice) async throws -> String {
        try await sluice.client.get("/metrics").text
    }

    @Test func seriesGoWithTheirTenantAndMadeUpTenantsHaveNone() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("fleeting"), contentType: "application/yaml")
            let file = try await sluice.uploadAndWait("fleeting", key: key, name: "a.csv",
                                                      "sensor,at,value,note\ns1,1700000000000,1.5,n\n")
            #expect(file.file["state"] as? String == "succeeded", "\(file.file)")
            let before = try await metrics(sluice)
            for family in ["sluice_uploads_total", "sluice_ingest_rows_total", "sluice_ingest_duration_seconds_bucket", "sluice_staged_files"] {
                #expect(before.contains("\(family){") && before.contains("tenant=\"fleeting\""), "\(family) has a series")
            }

            for tenant in ["made-up", "nobody", "x\(UUID().uuidString.prefix(8))"] {
                let admin = try await sluice.send("GET", "/api/v1/tenants/\(tenant)/files", token: InProcessSluice.adminToken)
                #expect(admin.status == 404)
                let upload = try await sluice.send("POST", "/api/v1/tenants/\(tenant)/files?name=a.csv", token: InProcessSluice.adminToken,
                                                   body: .bytes(Array("sensor\n".utf8)))
                #expect(upload.status == 404)
                _ = try await sluice.send("POST", "/api/v1/tenants/\(tenant)/files?name=a.csv", token: key, body: .bytes(Array("sensor\n".utf8)))
            }
            func sums() throws -> [Int?] {
                try ["report_minutes", "report_hours"].map { table in
                    try sluice.query("SELECT count(*)::int AS n FROM sluice.\(table) WHERE tenant_id = 'fleeting'").first?.decode(Int.self, "n")
                }
            }
            #expect(try sums() == [1, 1], "the file's report is summed per minute and per hour")
            let deleted = try await sluice.send("DELETE", "/api/v1/tenants/fleeting?confirm=fleeting", token: InProcessSluice.adminToken)
            #expect(deleted.status == 200, "\(deleted.text)")
            #expect(try sums() == [0, 0])
            try await waitUntil("the deleted tenant's series are removed", interval: .milliseconds(200)) {
                try await !metrics(sluice).contains("tenant=\"fleeting\"")
            }
            let after = try await metrics(sluice)
            for tenant in ["made-up", "nobody"] { #expect(!after.contains("tenant=\"\(tenant)\""), "no series for \(tenant)") }
        }
    }
}
