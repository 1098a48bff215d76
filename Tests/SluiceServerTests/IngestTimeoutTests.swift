import Foundation
import SluiceTestSupport
import Testing

/// A declarative ingest is bounded in time like an external app: past the tenant's `timeout_seconds` it
/// stops, fails the file with `ingest_timeout` and loads nothing (a 10 GB inflation ran without end before).
@Suite struct IngestTimeoutTests {
    @Test func aDeclarativeIngestLongerThanTimeoutSecondsFailsAndLoadsNothing() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.ingest.ingestDuringUpload = false }) { sluice in
            let key = try await sluice.createTenant(
                tenantYAML("hasty", constraints: "constraints: {max_file_size: 1GiB, storage_quota: 2GiB}")
                    + "\nservice_agreement: {resources: {timeout_seconds: 1}}", contentType: "application/yaml")
            // Three million rows take a debug build far longer than a second to load.
            var text = "sensor,at,value,note\n"
            text.reserveCapacity(100 << 20)
            for row in 0..<3_000_000 { text += "s\(row % 1000),\(1_700_000_000_000 + row),1.5,\n" }
            let file = try await sluice.uploadAndWait("hasty", key: key, name: "long.csv", text)
            #expect(file.file["state"] as? String == "failed", "\(file.file)")
            let error = file.file["error"] as? String ?? ""
            #expect(error.contains("ingest_timeout") || error.contains("longer than 1 s"), "\(error)")
            #expect(try sluice.query(#"SELECT count(*)::int AS n FROM "hasty"."readings""#).first?.decode(Int.self, "n") == 0)
        }
    }
}
