import Foundation
import SluiceStore

/// The query layer over the report time series: the sums rules evaluate at one time over several windows,
/// and ranges of points for `GET …/series`. Windows are read from the per-minute sums
/// (`sluice.report_minutes`), long ones from the per-hour sums (`sluice.report_hours`), finer steps from the
/// reports themselves, bucketed in SQL; all by time range on the (tenant, time) index, pruning partitions.
public struct SeriesStore: Sendable {
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// The file states of a backlog: received and not yet ingested.
    static let pendingStates = "('received', 'queued', 'ingesting')"

    // MARK: At one time

    /// Windows longer than this, of whole hours, are read from the per-hour sums.
    static let longestMinuteWindow = 6 * 3600

    /// The sums over each of `windows` (seconds, multiples of 60) of complete minutes before `time` (for windows
    /// of whole hours over 6 h: complete hours), for `tenants` (every tenant when nil): one pass over the
    /// minutes and one over the hours, grouped into the bands between consecutive windows. The minute (hour)
    /// still under way is left out: a window holds as much time as it says, never a fraction of a bucket.
    public func sums(at time: Date, windows: Set<Int>, tenants: [String]?) async throws -> ReportSums {
        let hourly = windows.filter { $0 > Self.longestMinuteWindow && $0 % 3600 == 0 }
        var sums = ReportSums()
        try await addBands(to: &sums, table: "sluice.report_minutes", column: "minute", unit: 60, at: time,
                           windows: windows.subtracting(hourly), tenants: tenants)
        try await addBands(to: &sums, table: "sluice.report_hours", column: "hour", unit: 3600, at: time, windows: hourly, tenants: tenants)
        return sums
    }

    private func addBands(to sums: inout ReportSums, table: String, column: String, unit: Double, at time: Date, windows: Set<Int>,
                          tenants: [String]?) async throws {
        let edges = windows.sorted()
        guard let longest = edges.last else { return }
        let end = Date(timeIntervalSince1970: (time.timeIntervalSince1970 / unit).rounded(.down) * unit)
        let rows = try await pool.query("""
            SELECT tenant_id, kind, width_bucket(extract(epoch FROM $1::timestamptz - \(column)) - 1, $2::float8[]) AS band,
                   \(ReportAggregate.fromMinutes)
            FROM \(table)
            WHERE \(column) >= $1::timestamptz - make_interval(secs => $3) AND \(column) < $1::timestamptz
              AND ($4::text[] IS NULL OR tenant_id = ANY($4::text[]))
            GROUP BY tenant_id, kind, band
            """, [.init(end), .array(edges.map(String.init)), .init(longest),
                  tenants.map { .array($0) } ?? .null])
        for row in rows {
            guard let tenant = try row.decode(String.self, "tenant_id"),
                  let kind = try row.decode(String.self, "kind").flatMap(IngestionReport.Kind.init(rawValue:)),
                  let band = try row.decode(Int.self, "band"), band < edges.count else { continue }
            sums.add(try ReportAggregate(row: row), tenant: tenant, kind: kind, toWindows: edges[band...])
        }
    }

    /// The readiness probes of every process in each of `windows` (seconds) ending at `time`.
    public func probes(at time: Date, windows: Set<Int>) async throws -> [Int: ProbeCounts] {
        let edges = windows.sorted()
        guard let longest = edges.last else { return [:] }
        let rows = try await pool.query("""
            SELECT width_bucket(extract(epoch FROM $1::timestamptz - at), $2::float8[]) AS band,
                   count(*) FILTER (WHERE ready) AS passed, count(*) AS total
            FROM sluice.readiness_probes
            WHERE at > $1::timestamptz - make_interval(secs => $3) AND at <= $1::timestamptz
            GROUP BY band
            """, [.init(time), .array(edges.map(String.init)), .init(longest)])
        var counts: [Int: ProbeCounts] = [:]
        for row in rows {
            guard let band = try row.decode(Int.self, "band"), band < edges.count else { continue }
            for window in edges[band...] {
                counts[window, default: ProbeCounts()].passed += try row.decode(Int64.self, "passed") ?? 0
                counts[window, default: ProbeCounts()].total += try row.decode(Int64.self, "total") ?? 0
            }
        }
        return counts
    }

    /// Each tenant's files received by `time` and not ingested by then (those received within `lookback`
    /// before it, or still pending), and how long the oldest had waited.
    public func backlog(at time: Date, tenants: [String]?, lookback: TimeInterval = 7 * 86_400) async throws -> [String: BacklogSample] {
        let rows = try await pool.query("""
            SELECT tenant_id, count(*) AS files, extract(epoch FROM $1::timestamptz - min(received_at))::float8 AS oldest
            FROM sluice.files
            WHERE received_at <= $1 AND (received_at > $2 OR state IN \(Self.pendingStates))
              AND (state IN \(Self.pendingStates) OR (state <> 'deleted' AND state_changed_at > $1))
              AND ($3::text[] IS NULL OR tenant_id = ANY($3::text[]))
            GROUP BY tenant_id
            """, [.init(time), .init(time.addingTimeInterval(-lookback)), tenants.map { .array($0) } ?? .null])
        var samples: [String: BacklogSample] = [:]
        for row in rows {
            guard let tenant = try row.decode(String.self, "tenant_id") else { continue }
            samples[tenant] = BacklogSample(files: try row.decode(Int.self, "files") ?? 0,
                                            oldestFileAgeSeconds: try row.decode(Double.self, "oldest"))
        }
        return samples
    }

    // MARK: Helpers

    static func minuteFloor(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60)
    }
}
