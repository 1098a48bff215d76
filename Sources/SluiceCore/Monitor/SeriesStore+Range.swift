import Foundation
import SluiceStore

/// What `GET …/series` asks: one series at every `step` from `from` through `to`. A point at `t` covers the
/// `window` that ends with the bucket starting at `t` (`[t + bucket − window, t + bucket)`): with a window of
/// one step, the step starting at `t`, so the last point holds the newest data, as the evaluator reads it.
public struct SeriesRangeRequest: Sendable {
    public var series: Series
    /// The tenants, or every tenant when nil.
    public var tenants: [String]?
    /// Batch or stream reports only; both when nil.
    public var kind: IngestionReport.Kind?
    public var from: Date
    public var to: Date
    public var step: Int
    public var window: Int

    public init(series: Series, tenants: [String]?, kind: IngestionReport.Kind?, from: Date, to: Date, step: Int, window: Int) {
        self.series = series
        self.tenants = tenants
        self.kind = kind
        self.from = from
        self.to = to
        self.step = step
        self.window = window
    }

    /// At most this many points per series (Prometheus's own limit).
    public static let maximumPoints = 11_000
    /// At most this many buckets read per point and series.
    public static let maximumBucketsPerPoint = 10_080
    /// At most this many bucket additions per series (points × buckets per point).
    public static let maximumBucketSums = 1_000_000
    /// At most this many points of a backlog series (each looks at a week of the file ledger).
    public static let maximumBacklogPoints = 1500

    /// The width of the buckets read: the largest that divides both the step and the window.
    public var bucketSeconds: Int {
        var (a, b) = (step, window)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }

    /// Whether the per-minute sums serve (buckets of whole minutes).
    var usesMinutes: Bool { bucketSeconds % 60 == 0 }

    /// The first point: `from`, moved back to a whole minute when the per-minute sums serve.
    var origin: Date { usesMinutes ? SeriesStore.minuteFloor(from) : from }

    var times: [Date] {
        stride(from: origin.timeIntervalSince1970, through: to.timeIntervalSince1970, by: Double(step))
            .map(Date.init(timeIntervalSince1970:))
    }
}

/// One series of a range: a tenant's (nil for a platform series) points, oldest first.
public struct SeriesRangeResult: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var time: Date
        public var value: Double
    }

    public var tenant: String?
    public var points: [Point]
}

extension SeriesStore {
    /// The points of `request`, one result per tenant that has data (and per tenant named), by tenant.
    public func range(_ request: SeriesRangeRequest) async throws -> [SeriesRangeResult] {
        let times = request.times
        func combined<T>(_ buckets: [Int: T], _ range: Range<Int>, _ zero: T, _ add: (inout T, T) -> Void) -> T {
            var total = zero
            for index in range { if let value = buckets[index] { add(&total, value) } }
            return total
        }
        switch request.series.source {
        case .probes:
            let buckets = try await probeBuckets(request)
            let points = times.compactMap { time -> SeriesRangeResult.Point? in
                combined(buckets, Self.buckets(before: time, request), ProbeCounts()) { $0.passed += $1.passed; $0.total += $1.total }
                    .availability.map { .init(time: time, value: $0) }
            }
            return [SeriesRangeResult(tenant: nil, points: points)]
        case .reports, .backlog:
            let sums = try await reportBuckets(request)
            let backlog = request.series.source == .backlog ? try await backlogPoints(request, times: times) : [:]
            let tenants = Set(sums.keys).union(backlog.keys).union(request.tenants ?? []).sorted()
            return tenants.map { tenant in
                let points = times.enumerated().compactMap { index, time -> SeriesRangeResult.Point? in
                    let window = combined(sums[tenant] ?? [:], Self.buckets(before: time, request), ReportAggregate()) { $0 += $1 }
                    let value = request.series.source == .backlog
                        ? request.series.value(backlog[tenant]?[index] ?? BacklogSample(files: 0), window)
                        : request.series.value(window, seconds: Double(request.window))
                    return value.map { .init(time: time, value: $0) }
                }
                return SeriesRangeResult(tenant: tenant, points: points)
            }
        }
    }

    /// The buckets making up the window of the point at `time`: the one starting at `time` and those before.
    private static func buckets(before time: Date, _ request: SeriesRangeRequest) -> Range<Int> {
        let end = Int((time.timeIntervalSince(request.origin) / Double(request.bucketSeconds)).rounded()) + 1
        return (end - request.window / request.bucketSeconds)..<end
    }

    /// The statement reading the reports' sums per tenant and bucket (index from the origin), bucketed in
    /// SQL: from the per-minute sums when the buckets are whole minutes, else from the reports.
    static func reportBucketsQuery(_ request: SeriesRangeRequest) -> (sql: String, parameters: [PostgresValue]) {
        let (table, time, columns) = request.usesMinutes
            ? ("sluice.report_minutes", "minute", ReportAggregate.fromMinutes)
            : (IngestionReports.table, "started_at", ReportAggregate.fromReports)
        return ("""
            SELECT tenant_id, floor(extract(epoch FROM \(time) - $1::timestamptz) / $2::float8)::bigint AS bucket, \(columns)
            FROM \(table)
            WHERE \(time) >= $1::timestamptz - make_interval(secs => $3::float8 - $2::float8) AND \(time) < $4::timestamptz + make_interval(secs => $2::float8)
              AND ($5::text[] IS NULL OR tenant_id = ANY($5::text[])) AND ($6::text IS NULL OR kind = $6)
            GROUP BY tenant_id, bucket
            """, [.init(request.origin), .init(request.bucketSeconds), .init(request.window), .init(request.to),
                  request.tenants.map { .array($0) } ?? .null, .init(request.kind?.rawValue)])
    }

    private func reportBuckets(_ request: SeriesRangeRequest) async throws -> [String: [Int: ReportAggregate]] {
        let query = Self.reportBucketsQuery(request)
        let rows = try await pool.query(query.sql, query.parameters)
        var buckets: [String: [Int: ReportAggregate]] = [:]
        for row in rows {
            guard let tenant = try row.decode(String.self, "tenant_id"), let index = try row.decode(Int.self, "bucket") else { continue }
            buckets[tenant, default: [:]][index] = try ReportAggregate(row: row)
        }
        return buckets
    }

    /// The readiness probes per bucket.
    private func probeBuckets(_ request: SeriesRangeRequest) async throws -> [Int: ProbeCounts] {
        let rows = try await pool.query("""
            SELECT floor(extract(epoch FROM at - $1::timestamptz) / $2::float8)::bigint AS bucket,
                   count(*) FILTER (WHERE ready) AS passed, count(*) AS total
            FROM sluice.readiness_probes
            WHERE at >= $1::timestamptz - make_interval(secs => $3::float8 - $2::float8) AND at < $4::timestamptz + make_interval(secs => $2::float8)
            GROUP BY bucket
            """, [.init(request.origin), .init(request.bucketSeconds), .init(request.window), .init(request.to)])
        var buckets: [Int: ProbeCounts] = [:]
        for row in rows {
            guard let index = try row.decode(Int.self, "bucket") else { continue }
            buckets[index] = ProbeCounts(passed: try row.decode(Int64.self, "passed") ?? 0, total: try row.decode(Int64.self, "total") ?? 0)
        }
        return buckets
    }

    /// Each tenant's backlog at every point (index into `times`).
    private func backlogPoints(_ request: SeriesRangeRequest, times: [Date]) async throws -> [String: [Int: BacklogSample]] {
        guard let first = times.first, let last = times.last else { return [:] }
        let rows = try await pool.query("""
            SELECT tenant_id, round(extract(epoch FROM t - $1::timestamptz) / $3)::int AS point, count(*) AS files,
                   extract(epoch FROM t - min(received_at))::float8 AS oldest
            FROM generate_series($1::timestamptz, $2::timestamptz, make_interval(secs => $3)) AS t
            JOIN sluice.files f ON f.received_at <= t
                 AND (f.state IN \(Self.pendingStates) OR (f.state <> 'deleted' AND f.state_changed_at > t))
            WHERE (f.received_at > $1::timestamptz - interval '7 days' OR f.state IN \(Self.pendingStates))
              AND ($4::text[] IS NULL OR f.tenant_id = ANY($4::text[]))
            GROUP BY tenant_id, t
            """, [.init(first), .init(last), .init(request.step), request.tenants.map { .array($0) } ?? .null])
        var points: [String: [Int: BacklogSample]] = [:]
        for row in rows {
            guard let tenant = try row.decode(String.self, "tenant_id"), let index = try row.decode(Int.self, "point") else { continue }
            points[tenant, default: [:]][index] = BacklogSample(files: try row.decode(Int.self, "files") ?? 0,
                                                                oldestFileAgeSeconds: try row.decode(Double.self, "oldest"))
        }
        return points
    }
}
