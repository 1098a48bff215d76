import Foundation
@testable import SluiceCore
import SluiceStore
import SluiceTestSupport
import Testing

/// The report time series: the per-minute sums kept by the trigger agree with the reports themselves, the
/// values are what the reports say, and range queries prune partitions and use the (tenant, time) index.
@Suite struct SeriesStoreTests {
    private let ten = MonitorTestData.tenOClock

    private func minute(_ n: Double, _ seconds: Double = 0) -> Date { ten.addingTimeInterval(n * 60 + seconds) }

    /// Tenant a: a partial file at 10:00 (100 rows, 20 rejected, 35 s latency), a good one at 10:01 (50 rows,
    /// 70 s), a failed one at 10:02. Tenant b: a stream window at 10:00 (1000 messages, 10 not committed,
    /// 10 rejected, 0.2 s each) and one at 10:01 with a 0.05 s latency and a queue.
    private func seeded() async throws -> (SeriesStore, PostgresConnectionPool) {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.insert([
            MonitorTestData.file("tenant-a", at: minute(0, 10), rows: 100, rejected: 20, waited: 30, outcome: .partial),
            MonitorTestData.file("tenant-a", at: minute(1, 30), rows: 50, waited: 65),
            MonitorTestData.window("tenant-b", at: minute(0), messages: 1000, failed: 10, rejected: 10, latency: 0.2),
        ], into: pool)
        // A second statement, so the trigger adds to existing minutes.
        try await MonitorTestData.insert([
            MonitorTestData.file("tenant-a", at: minute(2), rows: nil, outcome: .failed),
            MonitorTestData.window("tenant-b", at: minute(1, 20), messages: 100, latency: 0.05, queue: 7),
        ], into: pool)
        return (SeriesStore(pool: pool), pool)
    }

    private func values(_ store: SeriesStore, _ series: Series, tenant: String, step: Int, window: Int,
                        kind: IngestionReport.Kind? = nil) async throws -> [Date: Double] {
        let results = try await store.range(SeriesRangeRequest(series: series, tenants: [tenant], kind: kind, from: ten,
                                                               to: minute(4), step: step, window: window))
        let result = try #require(results.first { $0.tenant == tenant })
        return Dictionary(uniqueKeysWithValues: result.points.map { ($0.time, $0.value) })
    }

    @Test func valuesAreWhatTheReportsSay() async throws {
        let (store, _) = try await seeded()
        // Each point covers the minute starting at it (the window ending with that minute).
        let rejectRatio = try await values(store, .rejectRatio, tenant: "tenant-a", step: 60, window: 60)
        #expect(rejectRatio == [minute(0): 0.2, minute(1): 0])
        let rows = try await values(store, .ingestRowsPerSecond, tenant: "tenant-a", step: 60, window: 60)
        #expect(rows[minute(0)] == 80.0 / 60 && rows[minute(1)] == 50.0 / 60 && rows[minute(2)] == 0 && rows[minute(3)] == 0)
        #expect(try await values(store, .failedFileRatio, tenant: "tenant-a", step: 60, window: 60) == [minute(0): 0, minute(1): 0, minute(2): 1])
        #expect(try await values(store, .availability, tenant: "tenant-a", step: 60, window: 180)[minute(2)] == 2.0 / 3)
        let latency = try await values(store, .latencyAverageSeconds, tenant: "tenant-a", step: 60, window: 60)
        #expect(latency[minute(0)] == 35 && latency[minute(1)] == 70)
        // Tenant b: 990 of 1000 committed; p95 of 0.2 s latencies interpolated in the (0.1, 0.25] bucket.
        #expect(try await values(store, .availability, tenant: "tenant-b", step: 60, window: 60)[minute(0)] == 0.99)
        #expect(try await values(store, .ingestMessagesPerSecond, tenant: "tenant-b", step: 60, window: 60)[minute(0)] == 1000.0 / 60)
        let p95 = try #require(try await values(store, .latencyP95Seconds, tenant: "tenant-b", step: 60, window: 60)[minute(0)])
        #expect(abs(p95 - (0.1 + 0.15 * 0.95)) < 1e-9)
        #expect(try await values(store, .streamQueueMessages, tenant: "tenant-b", step: 60, window: 120)[minute(2)] == 7)
        #expect(try await values(store, .backlogOldestAgeSeconds, tenant: "tenant-b", step: 60, window: 60)[minute(1)] == 2)
        // Batch and stream apart.
        #expect(try await values(store, .ingestRowsPerSecond, tenant: "tenant-b", step: 60, window: 60, kind: .batch)[minute(0)] == 0)
    }

    @Test func perMinuteSumsAgreeWithTheReports() async throws {
        let (store, _) = try await seeded()
        for series in Series.allCases where series.source == .reports {
            for tenant in ["tenant-a", "tenant-b"] {
                // A step of 60 s reads the per-minute sums; 30 s reads the reports (bucketed by 30 s). The point at t of
                // the first covers [t − 60 s, t + 60 s), the point at t + 30 s of the second the same.
                let minutes = try await values(store, series, tenant: tenant, step: 60, window: 120)
                let reports = try await values(store, series, tenant: tenant, step: 30, window: 120)
                for (time, value) in minutes where time < minute(4) {
                    let raw = try #require(reports[time.addingTimeInterval(30)], "\(series) \(tenant) at \(time)")
                    #expect(abs(raw - value) < 1e-9, "\(series) \(tenant) at \(time): \(raw) from reports, \(value) from minutes")
                }
                let shifted = reports.keys.filter { Int($0.timeIntervalSince(ten)) % 60 == 30 }.map { $0.addingTimeInterval(-30) }
                #expect(Set(minutes.keys.filter { $0 < minute(4) }) == Set(shifted), "\(series) \(tenant)")
            }
        }
    }

    @Test func sumsAtOneTimeCoverNestedWindows() async throws {
        let (store, _) = try await seeded()
        // At 10:03:30 the 1-minute window is the complete minute 10:02, the 3-minute one 10:00 to 10:02.
        let sums = try await store.sums(at: minute(3, 30), windows: [60, 180], tenants: nil)
        #expect(sums.sums(tenant: "tenant-a", kind: nil, window: 60).files == 1)
        #expect(sums.sums(tenant: "tenant-a", kind: nil, window: 60).filesFailed == 1)
        #expect(sums.sums(tenant: "tenant-a", kind: nil, window: 180).rowsIngested == 130)
        #expect(sums.sums(tenant: "tenant-b", kind: .stream, window: 180).messages == 1100)
        #expect(sums.sums(tenant: "tenant-b", kind: .batch, window: 180).reports == 0)
        // The minute under way is not part of any window.
        #expect(try await store.sums(at: minute(2, 59), windows: [60], tenants: nil).sums(tenant: "tenant-a", kind: nil, window: 60).filesFailed == 0)
        let only = try await store.sums(at: minute(3, 30), windows: [180], tenants: ["tenant-b"])
        #expect(only.sums(tenant: "tenant-a", kind: nil, window: 180).reports == 0)
    }

    @Test func longWindowsReadWholeHours() async throws {
        let (store, pool) = try await seeded()
        // A day's window at 11:02:30 is the complete hours from 11:00 the day before to 10:59 today; the hour's
        // window (read per minute) the minutes 10:02 to 11:01.
        try await MonitorTestData.insert([
            MonitorTestData.file("tenant-a", at: ten.addingTimeInterval(-86_400 + 5400), rows: 7),
            MonitorTestData.file("tenant-a", at: ten.addingTimeInterval(-86_400 + 1800), rows: 1000),
        ], into: pool)
        let sums = try await store.sums(at: minute(62, 30), windows: [3600, 86_400], tenants: ["tenant-a"])
        #expect(sums.sums(tenant: "tenant-a", kind: .batch, window: 86_400).rowsIngested == 137)
        #expect(sums.sums(tenant: "tenant-a", kind: .batch, window: 86_400).files == 4)
        #expect(sums.sums(tenant: "tenant-a", kind: .batch, window: 3600).files == 1)
        #expect(sums.sums(tenant: "tenant-a", kind: .batch, window: 3600).filesFailed == 1)
    }

    @Test func rangeQueriesPrunePartitionsAndUseTheTenantTimeIndex() async throws {
        let (_, pool) = try await seeded()
        for step in [60, 30] {
            let request = SeriesRangeRequest(series: .rejectRatio, tenants: ["tenant-a"], kind: nil, from: ten, to: minute(30),
                                             step: step, window: step)
            let query = SeriesStore.reportBucketsQuery(request)
            let table = request.usesMinutes ? "report_minutes" : "ingestion_reports"
            let plan = try await pool.withConnection { connection in
                try connection.execute("SET enable_seqscan = off")
                defer { _ = try? connection.execute("RESET enable_seqscan") }
                return try connection.query("EXPLAIN " + query.sql, query.parameters).compactMap { try $0.text(at: 0) }.joined(separator: "\n")
            }
            #expect(plan.contains("\(table)_20261121"), "\(plan)")
            for other in ["\(table)_20261120", "\(table)_20261122", "\(table)_default"] {
                #expect(!plan.contains(other), "\(other) is not pruned:\n\(plan)")
            }
            #expect(plan.contains("Index"), "\(plan)")
        }
    }

    @Test func reportsMovedOutOfTheDefaultPartitionAreCountedOnce() async throws {
        let pool = try await MonitorTestData.migratedPool()
        let later = ten.addingTimeInterval(400 * 86_400)
        try await MonitorTestData.insert([MonitorTestData.file("tenant-a", at: later, rows: 10)], into: pool)
        try await ReportPartitionMaintenance(pool: pool).ensurePartitions(from: later, daysAhead: 0)
        let sums = try await SeriesStore(pool: pool).sums(at: later.addingTimeInterval(60), windows: [60], tenants: nil)
        #expect(sums.sums(tenant: "tenant-a", kind: nil, window: 60).rowsIngested == 10)
        let stranded = try await pool.query("SELECT count(*)::int AS n FROM sluice.report_minutes_default").first?.decode(Int.self, "n")
        #expect(stranded == 0)
    }
}
