import Foundation
import SluiceCore
import SluiceMetrics
import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct ReportTests {
    /// 2026-11-21 00:00:00 UTC.
    private let day = Date(timeIntervalSince1970: 1_795_219_200)
    private let hour = 3600.0
    private let dayLength = 86_400.0

    private func migratedPool() async throws -> PostgresConnectionPool {
        let pool = try await TestPostgres.makePool()
        _ = try await PostgresMigrator(schema: "sluice", migrations: PlatformSchema.migrations)
            .migrate(using: pool)
        return pool
    }

    /// Partition names computed independently of the code under test.
    private func name(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd"
        return "ingestion_reports_" + formatter.string(from: date)
    }

    private func names(around date: Date, days: ClosedRange<Int>) -> [String] {
        days.map { name(date.addingTimeInterval(Double($0) * dayLength)) }
    }

    private func partitions(_ pool: PostgresConnectionPool) async throws -> Set<String> {
        let rows = try await pool.query("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'sluice.ingestion_reports'::regclass
            """)
        return Set(try rows.map { try #require(try $0.decode(String.self, "relname")) })
    }

    private func report(
        tenant: String = "tenant-a", kind: IngestionReport.Kind = .batch, source: String = "file-1", startedAt: Date,
        outcome: IngestionReport.Outcome = .succeeded
    ) -> IngestionReport {
        IngestionReport(
            tenantID: tenant, kind: kind, sourceID: source, sourceName: "orders.csv", bytes: 9000, rowsTotal: 500,
            rowsIngested: 450, rowsRejected: 50, rejectedByReason: ["bad_date": 30, "missing_field": 20],
            receivedAt: startedAt.addingTimeInterval(-60), startedAt: startedAt, finishedAt: startedAt.addingTimeInterval(90),
            appKind: "csv", outcome: outcome, error: outcome == .succeeded ? nil : "some rows rejected",
            diagnostics: "line 7: bad date")
    }

    @discardableResult
    private func insert(_ report: IngestionReport, into pool: PostgresConnectionPool) async throws -> Int64 {
        try await pool.withTransaction { try IngestionReports.insert(report, on: $0) }
    }

    private func location(of id: Int64, in pool: PostgresConnectionPool) async throws -> String? {
        try await pool.query("""
            SELECT n.nspname || '.' || c.relname AS t FROM sluice.ingestion_reports r
            JOIN pg_class c ON c.oid = r.tableoid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE r.id = $1
            """, [.init(id)]).first?.decode(String.self, "t")
    }

    @Test func migrationCreatesPartitionedTableWithIndexesAndDefault() async throws {
        let pool = try await migratedPool()
        #expect(IngestionReports.migration.version == 3)
        let strategy = try await pool.query("""
            SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'sluice.ingestion_reports'::regclass
            """).first?.decode(String.self, "partstrat")
        #expect(strategy == "r")
        let indexes = try await pool.query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'sluice' AND tablename = 'ingestion_reports'")
        let definitions = try indexes.map { try #require(try $0.decode(String.self, "indexdef")) }
        #expect(definitions.contains { $0.contains("USING brin (started_at)") })
        #expect(definitions.contains { $0.contains("USING btree (tenant_id, started_at)") })
        #expect(definitions.contains { $0.contains("UNIQUE") && $0.contains("(id, started_at)") })
        #expect(try await partitions(pool) == ["ingestion_reports_default"])
    }

    @Test func ensureCreatesYesterdayThroughAWeekAhead() async throws {
        let pool = try await migratedPool()
        let now = Date()
        let expected = names(around: now, days: -1...7)
        let created = try await ReportPartitionMaintenance(pool: pool).ensurePartitions(from: now)
        #expect(created == expected)
        #expect(try await partitions(pool) == Set(expected + ["ingestion_reports_default"]))
        #expect(ReportPartitionMaintenance.partitionName(for: now) == name(now))
        #expect(try await ReportPartitionMaintenance(pool: pool).partitionsAheadDays(from: now) == 7)
    }

    @Test func ensureIsIdempotentAndSafeConcurrently() async throws {
        let pool = try await migratedPool()
        let maintenance = ReportPartitionMaintenance(pool: pool)
        async let first = maintenance.ensurePartitions(from: day)
        async let second = maintenance.ensurePartitions(from: day)
        let (a, b) = try await (first, second)
        let expected = names(around: day, days: -1...7)
        #expect((a + b).sorted() == expected.sorted())
        #expect(a.isEmpty || b.isEmpty)
        #expect(try await maintenance.ensurePartitions(from: day).isEmpty)
        // Extending the window creates only the new days.
        #expect(try await maintenance.ensurePartitions(from: day, daysAhead: 9) == names(around: day, days: 8...9))
        #expect(try await partitions(pool).count == 12)
    }

    @Test func insertListAndSummaryRoundTrip() async throws {
        let pool = try await migratedPool()
        try await ReportPartitionMaintenance(pool: pool).ensurePartitions(from: day)
        let batch = report(startedAt: day.addingTimeInterval(2 * hour))
        var stream = report(kind: .stream, source: "window-9", startedAt: day.addingTimeInterval(5 * hour), outcome: .partial)
        stream.receivedAt = stream.startedAt.addingTimeInterval(-210)
        let other = report(tenant: "tenant-b", startedAt: day.addingTimeInterval(hour), outcome: .failed)
        let batchID = try await insert(batch, into: pool)
        let streamID = try await insert(stream, into: pool)
        try await insert(other, into: pool)

        let store = IngestionReports(pool: pool)
        let listed = try await store.list(tenant: "tenant-a", from: day, to: day.addingTimeInterval(dayLength))
        var expectedBatch = batch, expectedStream = stream
        expectedBatch.id = batchID
        expectedStream.id = streamID
        #expect(listed == [expectedStream, expectedBatch])
        #expect(try await store.list(tenant: "tenant-a", from: day, to: day.addingTimeInterval(dayLength), limit: 1)
            == [expectedStream])
        #expect(try await store.list(tenant: "tenant-a", from: day, to: day.addingTimeInterval(2 * hour)).isEmpty)

        let stored = try #require(try await pool.query("""
            SELECT queue_wait_seconds, duration_seconds, latency_seconds, bytes_per_second, rows_per_second,
                   rejected_by_reason ->> 'bad_date' AS bad_date
            FROM sluice.ingestion_reports WHERE id = $1
            """, [.init(batchID)]).first)
        #expect(try stored.decode(Double.self, "queue_wait_seconds") == 60)
        #expect(try stored.decode(Double.self, "duration_seconds") == 90)
        #expect(try stored.decode(Double.self, "latency_seconds") == 150)
        #expect(try stored.decode(Double.self, "bytes_per_second") == 100)
        #expect(try stored.decode(Double.self, "rows_per_second") == 5)
        #expect(try stored.decode(String.self, "bad_date") == "30")

        let summary = try await store.summary(from: day, to: day.addingTimeInterval(dayLength))
        #expect(summary.map(\.tenantID) == ["tenant-a", "tenant-b"])
        let a = try #require(summary.first)
        #expect(a.reports == 2 && a.filesSucceeded == 1 && a.filesPartial == 0 && a.filesFailed == 0)
        #expect(a.rowsTotal == 1000 && a.rowsIngested == 900 && a.rowsRejected == 100 && a.bytes == 18000)
        #expect(a.meanLatencySeconds == 225 && a.maxLatencySeconds == 300)
        #expect(summary.last?.filesFailed == 1)

        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let json = try #require(try JSONSerialization.jsonObject(with: encoder.encode(listed)) as? [[String: Any]])
        #expect(json.last?["file_id"] as? String == "file-1")
        #expect(json.first?["file_id"] == nil)
        #expect(json.last?["latency_seconds"] as? Double == 150)
        #expect(json.last?["started_at"] as? String == "2026-11-21T02:00:00Z")
        for key in ["kind", "rows_total", "rows_ingested", "rows_rejected", "bytes", "finished_at", "outcome"] {
            #expect(json.last?[key] != nil, "missing \(key)")
        }
    }

    @Test func rejectsInconsistentReports() async throws {
        let pool = try await migratedPool()
        var bad = report(startedAt: day)
        bad.finishedAt = day.addingTimeInterval(-1)
        let invalid = await #expect(throws: ServiceError.self) { try await insert(bad, into: pool) }
        #expect(invalid?.code == "invalid_report")
        #expect(invalid?.message == "finished_at precedes started_at")
        let argument = await #expect(throws: ServiceError.self) {
            try await IngestionReports(pool: pool).list(tenant: "tenant-a", from: day, to: day, limit: 0)
        }
        #expect(argument?.code == "invalid_argument")
    }

    @Test func reportsLandInTheirDaysPartition() async throws {
        let pool = try await migratedPool()
        try await ReportPartitionMaintenance(pool: pool).ensurePartitions(from: day)
        let first = try await insert(report(startedAt: day), into: pool)
        let last = try await insert(report(startedAt: day.addingTimeInterval(dayLength - 0.001)), into: pool)
        let next = try await insert(report(startedAt: day.addingTimeInterval(dayLength)), into: pool)
        #expect(try await location(of: first, in: pool) == "sluice." + name(day))
        #expect(try await location(of: last, in: pool) == "sluice." + name(day))
        #expect(try await location(of: next, in: pool) == "sluice." + name(day.addingTimeInterval(dayLength)))
        #expect(try await ReportPartitionMaintenance(pool: pool).defaultPartitionRowCount() == 0)
    }

    @Test func dropPartitionsRemovesExactlyTheOldOnes() async throws {
        let pool = try await migratedPool()
        let maintenance = ReportPartitionMaintenance(pool: pool)
        try await maintenance.ensurePartitions(from: day)
        try await maintenance.ensurePartitions(from: day.addingTimeInterval(-10 * dayLength), daysAhead: 0)
        try await insert(report(startedAt: day.addingTimeInterval(-10 * dayLength + hour)), into: pool)
        let kept = try await insert(report(startedAt: day.addingTimeInterval(-dayLength + hour)), into: pool)
        // The cutoff falls inside yesterday's partition, which must stay.
        let dropped = try await maintenance.dropPartitions(olderThan: day.addingTimeInterval(-dayLength + 12 * hour))
        #expect(dropped == names(around: day, days: -11...(-10)))
        #expect(try await partitions(pool) == Set(names(around: day, days: -1...7) + ["ingestion_reports_default"]))
        let remaining = try await pool.query("SELECT id FROM sluice.ingestion_reports").map { try $0.decode(Int64.self, "id") }
        #expect(remaining == [kept])
        #expect(try await maintenance.dropPartitions(olderThan: day.addingTimeInterval(-dayLength)).isEmpty)
    }

    @Test func perTenantRetentionDeletesOnlyThatTenantsOldRows() async throws {
        let pool = try await migratedPool()
        let maintenance = ReportPartitionMaintenance(pool: pool)
        try await maintenance.ensurePartitions(from: day)
        for tenant in ["tenant-a", "tenant-b"] {
            try await insert(report(tenant: tenant, startedAt: day.addingTimeInterval(-hour)), into: pool)
            try await insert(report(tenant: tenant, startedAt: day.addingTimeInterval(hour)), into: pool)
        }
        #expect(try await maintenance.deleteReports(tenant: "tenant-a", olderThan: day) == 1)
        let store = IngestionReports(pool: pool)
        let window = (from: day.addingTimeInterval(-dayLength), to: day.addingTimeInterval(dayLength))
        let a = try await store.list(tenant: "tenant-a", from: window.from, to: window.to)
        #expect(a.map(\.startedAt) == [day.addingTimeInterval(hour)])
        #expect(try await store.list(tenant: "tenant-b", from: window.from, to: window.to).count == 2)
        #expect(try await store.deleteTenant("tenant-b") == 2)
        #expect(try await store.list(tenant: "tenant-b", from: window.from, to: window.to).isEmpty)
        #expect(try await store.list(tenant: "tenant-a", from: window.from, to: window.to).count == 1)
    }

    @Test func defaultPartitionCatchesReportsBeyondThePartitions() async throws {
        let pool = try await migratedPool()
        let maintenance = ReportPartitionMaintenance(pool: pool)
        try await maintenance.ensurePartitions(from: day)
        try await insert(report(startedAt: day.addingTimeInterval(hour)), into: pool)
        #expect(try await maintenance.defaultPartitionRowCount() == 0)
        let future = day.addingTimeInterval(400 * dayLength + hour)
        let id = try await insert(report(startedAt: future), into: pool)
        #expect(try await maintenance.defaultPartitionRowCount() == 1)
        #expect(try await location(of: id, in: pool) == "sluice.ingestion_reports_default")
        // Creating that day's partition moves the stranded report into it, keeping its id.
        #expect(try await maintenance.ensurePartitions(from: future, daysAhead: 0).contains(name(future)))
        #expect(try await maintenance.defaultPartitionRowCount() == 0)
        #expect(try await location(of: id, in: pool) == "sluice." + name(future))
        let next = try await insert(report(startedAt: future), into: pool)
        #expect(next > id)
    }

    @Test func runLoopMaintainsPartitionsAndExportsGauges() async throws {
        let pool = try await migratedPool()
        let components = ComponentRegistry()
        let registry = MetricsRegistry()
        let task = Task {
            await ReportPartitionMaintenance(pool: pool).run(
                components: components, registry: registry, interval: .milliseconds(50))
        }
        let ahead = registry.gauge(name: "sluice_report_daily_partitions_ahead", help: "").labels()
        let defaultRows = registry.gauge(name: "sluice_report_default_partition_rows", help: "").labels()
        let deadline = ContinuousClock.now + .seconds(120)
        while ahead.value != 7, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(ahead.value == 7)
        #expect(defaultRows.value == 0)
        #expect(components.snapshot.contains { $0.name == "report-partitions" && $0.running })
        task.cancel()
        await task.value
        #expect(components.snapshot.contains { $0.name == "report-partitions" && !$0.running })
    }
}
