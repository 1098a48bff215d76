import Foundation
import SluiceTestSupport
import Testing

/// A tenant with a schedule has its files ingested when its cron expression fires, not on arrival.
@Suite struct ScheduledIngestTests {
    @Test func filesOfAScheduledTenantWaitForTheNextMinute() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("hourly") + "\nservice_agreement: {schedule: \"* * * * *\"}",
                                                    contentType: "application/yaml")
            let minute = { Int(Date().timeIntervalSince1970 / 60) }
            let before = minute()
            let id = try await sluice.upload("hourly", key: key, name: "a.csv", "sensor,at,value,note\ns1,1700000000000,1.5,n\n")
            let state = try await sluice.send("GET", "/api/v1/tenants/hourly/files/\(id)", token: key).json()["state"] as? String
            if minute() == before { #expect(state == "received", "queued before its schedule fired") }
            let file = try await sluice.finished("hourly", id, key: key, timeout: .seconds(180))
            #expect(file["state"] as? String == "succeeded", "\(file)")
            let started = try #require(try sluice.query("""
                SELECT extract(epoch FROM ingest_started_at)::float8 AS t FROM sluice.files WHERE id = '\(id)'
                """).first?.decode(Double.self, "t"))
            #expect(Int(started / 60) > before, "ingested only once the minute turned")
        }
    }
}
