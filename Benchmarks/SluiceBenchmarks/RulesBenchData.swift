import Foundation
import SluiceCore
import SluiceStore

/// The rules benchmark's data: tenants, 30 days of reports written a day per statement (the trigger keeping
/// the per-minute sums as in production), and the rule file.
struct RulesBenchData {
    let pool: PostgresConnectionPool
    let now: Date
    let tenants: Int
    let days: Int

    var tenantIDs: [String] { (0..<tenants).map(Self.tenantID) }
    static func tenantID(_ index: Int) -> String { "tenant-" + String(format: "%03d", index) }

    /// Stream windows' committed messages per latency bound: most within 50 ms.
    private static let latencyAtMost: String = {
        let counts: [Double: Int] = [0.025: 100, 0.05: 400, 0.1: 480]
        var running = 0
        return "[" + LatencyBuckets.bounds.map { bound in
            running = counts[bound] ?? (bound > 0.1 ? 500 : running)
            return String(running)
        }.joined(separator: ",") + "]"
    }()

    /// Writes everything; returns the number of reports.
    func fill() async throws -> Int {
        try await ReportPartitionMaintenance(pool: pool).ensurePartitions(from: now.addingTimeInterval(-Double(days) * 86_400), daysAhead: days + 2)
        for index in 0..<tenants {
            try await pool.execute("INSERT INTO sluice.tenants (id, display_name, definition, source) VALUES ($1, $1, $2::jsonb, 'bench')",
                                   [.init(Self.tenantID(index)), .init(#"{"metadata": {"tier": "\#(index % 3 == 0 ? "gold" : "silver")"}}"#)])
        }
        let streaming = max(1, tenants / 10)
        for day in 0..<days {
            let start = now.addingTimeInterval(-Double(days - day) * 86_400)
            try await pool.execute("""
                INSERT INTO sluice.ingestion_reports (tenant_id, kind, source_id, bytes, rows_total, rows_ingested, rows_rejected,
                    received_at, started_at, finished_at, latency_seconds, outcome)
                SELECT 'tenant-' || lpad(t::text, 3, '0'), 'batch', 'f-' || t || '-' || h, 100000, 1000, 1000 - t % 7, t % 7,
                       s - interval '30 seconds', s, s + interval '10 seconds', 40 + t % 50,
                       CASE WHEN (t * 31 + h + $3) % 200 = 0 THEN 'failed' WHEN t % 7 > 0 THEN 'partial' ELSE 'succeeded' END
                FROM generate_series(0, $2 - 1) AS t, generate_series(0, 23) AS h,
                     LATERAL (SELECT $1::timestamptz + make_interval(hours => h, secs => t) AS s) AS x
                """, [.init(start), .init(tenants), .init(day)])
            try await pool.execute("""
                INSERT INTO sluice.ingestion_reports (tenant_id, kind, source_id, bytes, rows_total, rows_ingested, rows_rejected,
                    started_at, finished_at, latency_seconds, outcome, details)
                SELECT 'tenant-' || lpad(t::text, 3, '0'), 'stream', 'w-' || t || '-' || w, 25000, 500, 499, 1,
                       s, s + interval '10 seconds', 0.03, 'partial',
                       '{"messages_received": 500, "messages_failed": 0, "latency_mean_seconds": 0.03, "latency_max_seconds": 0.2, \
                "latency_le": \(Self.latencyAtMost), "queue_messages": 3}'::jsonb
                FROM generate_series(0, $2 - 1) AS t, generate_series(0, 8639) AS w,
                     LATERAL (SELECT $1::timestamptz + make_interval(secs => w * 10) AS s) AS x
                """, [.init(start), .init(streaming)])
        }
        try await pool.execute("ANALYZE sluice.ingestion_reports")
        try await pool.execute("ANALYZE sluice.report_minutes")
        return (tenants * 24 + streaming * 8640) * days
    }

    /// `count` rules watching every tenant: 70 % thresholds on the report series over 1 m to 6 h, 30 % objectives
    /// (availability, and batch latency within 2 min) with the standard burn windows.
    static func rulesYAML(_ count: Int) -> String {
        let thresholds: [(String, String, String)] = [
            ("reject_ratio", ">", "0.5"), ("ingest_rows_per_second", "<", "0"), ("latency_p95_seconds", ">", "3600"),
            ("availability", "<", "0.5"), ("failed_file_ratio", ">", "0.9"), ("stream_queue_messages", ">", "10000"),
            ("ingest_bytes_per_second", ">", "1e12"),
        ]
        let windows = ["1m", "5m", "15m", "1h", "6h"]
        var text = "rules:\n"
        for index in 0..<count {
            if index % 10 < 7 {
                let (series, op, threshold) = thresholds[index % thresholds.count]
                text += "  - {name: T\(index), kind: threshold, series: \(series), window: \(windows[index % windows.count]), "
                    + "op: \"\(op)\", threshold: \(threshold), for: 1m, labels: {severity: ticket}}\n"
            } else if index % 2 == 0 {
                text += "  - {name: S\(index), kind: slo, series: availability, objective: 0.999, period: 30d}\n"
            } else {
                text += "  - {name: S\(index), kind: slo, series: latency, path: batch, latency_threshold: 120s, objective: 0.95, period: 30d}\n"
            }
        }
        return text
    }
}

/// The baseline: each (rule, tenant) pair's series by one query over the reports (every window of an
/// objective in the same query, as FILTERed sums).
struct RulesBaseline {
    let pool: PostgresConnectionPool
    let rules: [MonitorRule]
    let tenants: [String]
    let now: Date

    /// Times `sample` pairs spread evenly over rules and tenants (streaming tenants in their proportion); returns
    /// how many were timed and the seconds they took.
    func measure(sample: Int) async throws -> (Int, Double) {
        let pairs = rules.count * tenants.count
        let stride = max(1, pairs / sample)
        var timed = 0
        let start = ContinuousClock.now
        // Pair p is rule p / tenants, tenant (p * 7) % tenants: every stride-th pair, tenants spread over all.
        for pair in Swift.stride(from: 0, to: pairs, by: stride) {
            let rule = rules[pair / tenants.count]
            let tenant = tenants[(pair * 7 + pair / tenants.count) % tenants.count]
            try await query(rule, tenant: tenant)
            timed += 1
        }
        return (timed, start.duration(to: .now).secondsValue)
    }

    private func query(_ rule: MonitorRule, tenant: String) async throws {
        let windows = rule.windows.sorted()
        let end = now.addingTimeInterval(60)
        let filtered = windows.map { window in
            "sum(CASE WHEN kind = 'stream' THEN coalesce(rows_total, 0) ELSE (outcome <> 'failed')::int END) "
                + "FILTER (WHERE started_at >= $2::timestamptz - interval '\(window) seconds') AS good_\(window), "
                + "count(*) FILTER (WHERE started_at >= $2::timestamptz - interval '\(window) seconds') AS total_\(window)"
        }.joined(separator: ", ")
        let select: String
        if case .threshold = rule.condition { select = ReportAggregate.fromReports } else { select = filtered }
        _ = try await pool.query("""
            SELECT \(select) FROM sluice.ingestion_reports
            WHERE tenant_id = $1 AND started_at >= $2::timestamptz - make_interval(secs => $3) AND started_at < $2::timestamptz
            """, [.init(tenant), .init(end), .init(windows.last ?? 60)])
    }
}
