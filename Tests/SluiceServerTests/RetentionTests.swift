import Foundation
import Logging
import SluiceCore
import SluiceStore
import SluiceTestSupport
import Testing

/// The retention loop removes exactly what is older than each tenant's retention period.
@Suite struct RetentionTests {
    @Test func oldFinishedFilesRejectsReportsAndPartitionsGoAndNothingElse() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(
                tenantYAML("keeper") + "\nservice_agreement: {data_retention_period_days: 2}", contentType: "application/yaml")
            let waitingKey = try await sluice.createTenant(
                tenantYAML("waiter") + "\nservice_agreement: {data_retention_period_days: 2, schedule: \"0 0 1 1 *\"}",
                contentType: "application/yaml")
            let old = try await sluice.uploadAndWait("keeper", key: key, name: "old.csv",
                                                     "sensor,at,value\ns1,1700000000000,1\ns2,bad,2\n")
            let recent = try await sluice.uploadAndWait("keeper", key: key, name: "new.csv", "sensor,at,value\ns3,1700000000000,3\n")
            let waiting = try await sluice.upload("waiter", key: waitingKey, name: "w.csv", "sensor,at,value\ns4,1700000000000,4\n")
            #expect(old.file["state"] as? String == "partial")
            #expect(sluice.stagedFiles("keeper").count == 2)

            // Age the first file, its report and the waiting file by three days, past the two-day retention.
            _ = try sluice.query("""
                UPDATE sluice.files SET ingest_finished_at = now() - interval '3 days', state_changed_at = now() - interval '3 days',
                                        received_at = now() - interval '3 days'
                WHERE id IN ('\(old.id)', '\(waiting)')
                """)
            _ = try sluice.query("""
                UPDATE sluice.ingestion_reports SET started_at = started_at - interval '3 days',
                    finished_at = finished_at - interval '3 days', received_at = received_at - interval '3 days'
                WHERE source_id = '\(old.id)'
                """)

            let pool = PostgresConnectionPool(connectionString: sluice.databaseURL)
            let staging = StagingArea(root: StagingArea.defaultRoot(dataDirectory: sluice.dataDirectory), instance: "test")
            let logger = Logger(label: "test")
            let partitions = ReportPartitionMaintenance(pool: pool, logger: logger)
            let ancient = Date().addingTimeInterval(-40 * 86_400)
            let created = try await partitions.ensurePartitions(from: ancient, daysAhead: 0)
            let retention = RetentionMaintenance(pool: pool, tenants: TenantService(pool: pool, staging: staging, logger: logger),
                                                 staging: staging, logger: logger)
            let removed = try await retention.runOnce()
            let ahead = try await partitions.partitionsAheadDays(from: Date())
            await pool.close()

            #expect(removed.files == 1)
            #expect(removed.reports == 1)
            #expect(removed.partitions == created.sorted())
            #expect(try await sluice.send("GET", "/api/v1/tenants/keeper/files/\(old.id)", token: key).status == 404)
            #expect(try await sluice.send("GET", "/api/v1/tenants/keeper/files/\(recent.id)", token: key).status == 200)
            #expect(try await sluice.send("GET", "/api/v1/tenants/waiter/files/\(waiting)", token: waitingKey).status == 200)
            #expect(sluice.stagedFiles("keeper").count == 1)
            #expect(sluice.stagedFiles("keeper").first?.hasPrefix(recent.id) == true)
            #expect(sluice.stagedFiles("waiter").count == 1)
            #expect(try sluice.query("SELECT count(*)::int AS n FROM sluice.rejects").first?.decode(Int.self, "n") == 0)
            let reports = try sluice.query("SELECT source_id FROM sluice.ingestion_reports ORDER BY source_id")
            #expect(try reports.map { try $0.decode(String.self, "source_id") } == [recent.id])
            // The tenant's rows are core data, not subject to file retention.
            #expect(try sluice.query("SELECT count(*)::int AS n FROM keeper.readings").first?.decode(Int.self, "n") == 2)
            // The partitions made ahead at startup stay.
            #expect(ahead >= 7)
        }
    }
}
