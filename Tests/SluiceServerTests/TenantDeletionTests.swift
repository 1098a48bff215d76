import Foundation
import SluiceServer
import SluiceStore
import SluiceTestSupport
import Testing

/// Deleting a tenant while its work runs: the delete stops that work first, nothing waits without bound,
/// and the service stays ready for every other tenant.
@Suite struct TenantDeletionTests {
    private static func csv(_ rows: Range<Int>) -> [UInt8] {
        var text = "sensor,at,value,note\n"
        for row in rows { text += "s\(row),1700000000000,1.5,n\(row)\n" }
        return Array(text.utf8)
    }

    private func count(_ sluice: InProcessSluice, _ sql: String) throws -> Int {
        try sluice.query(sql).first?.decode(Int.self, "n") ?? -1
    }

    private func delete(_ sluice: InProcessSluice, _ tenant: String) async throws -> TestHTTPResponse {
        try await sluice.send("DELETE", "/api/v1/tenants/\(tenant)?confirm=\(tenant)", token: InProcessSluice.adminToken)
    }

    /// After each scenario: ready, and another tenant uploads and ingests as usual.
    private func expectOthersServed(_ sluice: InProcessSluice) async throws {
        #expect(try await sluice.client.get("/readyz").status == 200)
        let key = try await sluice.createTenant(tenantYAML("bystander"), contentType: "application/yaml")
        let file = try await sluice.uploadAndWait("bystander", key: key, name: "b.csv", String(decoding: Self.csv(0..<10), as: UTF8.self))
        #expect(file.file["state"] as? String == "succeeded", "\(file.file)")
    }

    /// The deadlock seen before: the ingest following the upload waited for bytes, the upload's insert waited
    /// for the delete, and the delete's DROP SCHEMA waited for the ingest, for good.
    @Test func deletingATenantWhileItsUploadIsIngestedAsItArrives() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.ingest.uploadPatience = .seconds(600) }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("doomed"), contentType: "application/yaml")
            let upload = try await PiecewiseUpload(sluice.client, tenant: "doomed", key: key, name: "a.csv", body: Self.csv(0..<40_000))
            try await waitUntil("an ingest follows the upload") {
                try count(sluice, PiecewiseUpload.activeCopies(into: #""doomed"."readings""#)) > 0
            }
            let started = ContinuousClock.now
            let deleted = try await delete(sluice, "doomed")
            #expect(deleted.status == 200, "\(deleted.text)")
            #expect(started.duration(to: .now) < .seconds(60), "it never answered before")

            let answer = try await upload.finish()
            #expect([401, 404].contains(answer.status), "the upload of a deleted tenant is refused: \(answer.status) \(answer.text)")
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM sluice.files") == 0)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'doomed'") == 0)
            try await expectOthersServed(sluice)
        }
    }

    /// The wedge seen before: uploads to a tenant being deleted blocked while holding store connections until
    /// the pool was exhausted, and readiness and every other tenant failed.
    @Test func deletingATenantDuringALongIngestThenUploadingToIt() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.ingest.ingestDuringUpload = false }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("busy"), contentType: "application/yaml")
            let response = try await sluice.send("POST", "/api/v1/tenants/busy/files?name=big.csv", token: key,
                                                 body: .bytes(Self.csv(0..<400_000)))
            #expect(response.status == 201, "\(response.text)")
            try await waitUntil("the file is being ingested") {
                try count(sluice, PiecewiseUpload.activeCopies(into: #""busy"."readings""#)) > 0
            }
            let deleted = try await delete(sluice, "busy")
            #expect(deleted.status == 200, "\(deleted.text)")

            let uploads = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try await sluice.send("POST", "/api/v1/tenants/busy/files?name=late\(index).csv", token: key,
                                              body: .bytes(Self.csv(index..<index + 5))).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(uploads.allSatisfy { [401, 404].contains($0) }, "\(uploads)")
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'busy'") == 0)
            try await expectOthersServed(sluice)
        }
    }
}
