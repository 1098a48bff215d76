import SluiceStore

/// Sums over ingestion reports: what every series is computed from. The same columns are kept per tenant,
/// kind and minute in `sluice.report_minutes` (by a trigger on the reports), and computed straight from the
/// reports for steps finer than a minute, so both paths agree.
public struct ReportAggregate: Sendable, Equatable {
    public var reports: Int64 = 0
    public var files: Int64 = 0
    public var filesFailed: Int64 = 0
    /// Ingestions (files, and stream messages taken) and those that succeeded: availability's events.
    public var eventsTotal: Int64 = 0
    public var eventsGood: Int64 = 0
    public var rowsTotal: Int64 = 0
    public var rowsIngested: Int64 = 0
    public var rowsRejected: Int64 = 0
    public var bytes: Int64 = 0
    /// Stream messages taken into the queue.
    public var messages: Int64 = 0
    /// Latencies (a file's, or each committed stream message's): count, sum, maximum and cumulative counts
    /// per ``LatencyBuckets`` bound (a failed file is never within a bound).
    public var latencyCount: Int64 = 0
    public var latencySum: Double = 0
    public var latencyMax: Double?
    public var latencyAtMost = [Int64](repeating: 0, count: LatencyBuckets.bounds.count)
    /// The largest stream queue, and the oldest queued message's age, seen at a window's end.
    public var queueMessagesMax: Int64?
    public var queueOldestAgeMax: Double?

    public init() {}

    /// Adds `other`'s counts; the maxima take the larger.
    public static func += (lhs: inout ReportAggregate, rhs: ReportAggregate) {
        lhs.reports += rhs.reports
        lhs.files += rhs.files
        lhs.filesFailed += rhs.filesFailed
        lhs.eventsTotal += rhs.eventsTotal
        lhs.eventsGood += rhs.eventsGood
        lhs.rowsTotal += rhs.rowsTotal
        lhs.rowsIngested += rhs.rowsIngested
        lhs.rowsRejected += rhs.rowsRejected
        lhs.bytes += rhs.bytes
        lhs.messages += rhs.messages
        lhs.latencyCount += rhs.latencyCount
        lhs.latencySum += rhs.latencySum
        lhs.latencyMax = larger(lhs.latencyMax, rhs.latencyMax)
        for index in lhs.latencyAtMost.indices { lhs.latencyAtMost[index] += rhs.latencyAtMost[index] }
        lhs.queueMessagesMax = larger(lhs.queueMessagesMax, rhs.queueMessagesMax)
        lhs.queueOldestAgeMax = larger(lhs.queueOldestAgeMax, rhs.queueOldestAgeMax)
    }

    private static func larger<T: Comparable>(_ a: T?, _ b: T?) -> T? {
        guard let a else { return b }
        guard let b else { return a }
        return max(a, b)
    }

    /// The column names, in order, and whether each adds up (`sum`) or takes the largest (`max`).
    static let columns: [(name: String, combine: String)] = [
        ("reports", "sum"), ("files", "sum"), ("files_failed", "sum"), ("events_total", "sum"), ("events_good", "sum"),
        ("rows_total", "sum"), ("rows_ingested", "sum"), ("rows_rejected", "sum"), ("bytes", "sum"), ("messages", "sum"),
        ("latency_count", "sum"), ("latency_sum", "sum"), ("latency_max", "max"),
    ] + LatencyBuckets.bounds.map { (LatencyBuckets.column($0), "sum") }
        + [("queue_messages_max", "max"), ("queue_oldest_age_max", "max")]

    /// The aggregate expressions over `sluice.ingestion_reports` rows, one per column, named as the columns.
    public static let fromReports: String = {
        let stream = "kind = 'stream'"
        let committed = "coalesce(rows_total, 0)"
        var expressions = [
            "count(*)",
            "count(*) FILTER (WHERE kind = 'batch')",
            "count(*) FILTER (WHERE kind = 'batch' AND outcome = 'failed')",
            "coalesce(sum(CASE WHEN \(stream) THEN \(committed) + coalesce((details->>'messages_failed')::bigint, 0) ELSE 1 END), 0)",
            "coalesce(sum(CASE WHEN \(stream) THEN \(committed) ELSE (outcome <> 'failed')::int END), 0)",
            "coalesce(sum(rows_total), 0)", "coalesce(sum(rows_ingested), 0)", "coalesce(sum(rows_rejected), 0)",
            "coalesce(sum(bytes), 0)",
            "coalesce(sum((details->>'messages_received')::bigint), 0)",
            "coalesce(sum(CASE WHEN latency_seconds IS NULL THEN 0 WHEN \(stream) THEN \(committed) ELSE 1 END), 0)",
            "coalesce(sum(latency_seconds * CASE WHEN \(stream) THEN \(committed) ELSE 1 END), 0)",
            "max(CASE WHEN \(stream) THEN (details->>'latency_max_seconds')::float8 ELSE latency_seconds END)",
        ]
        for (index, bound) in LatencyBuckets.bounds.enumerated() {
            expressions.append("coalesce(sum(CASE WHEN \(stream) THEN coalesce((details->'latency_le'->>\(index))::bigint, 0) "
                               + "ELSE (outcome <> 'failed' AND latency_seconds <= \(bound))::int END), 0)")
        }
        expressions += ["max((details->>'queue_messages')::bigint)", "max((details->>'queue_oldest_age_seconds')::float8)"]
        return zip(expressions, columns).map { "\($0) AS \($1.name)" }.joined(separator: ",\n")
    }()

    /// The expressions combining rows of `sluice.report_minutes` or `sluice.report_hours`, named as the columns.
    static let fromMinutes: String = columns.map { "\($0.combine)(\($0.name)) AS \($0.name)" }.joined(separator: ", ")

    /// Reads the columns of ``fromReports`` or ``fromMinutes``.
    init(row: PostgresRow) throws {
        func count(_ name: String) throws -> Int64 { try row.decode(Int64.self, name) ?? 0 }
        reports = try count("reports")
        files = try count("files")
        filesFailed = try count("files_failed")
        eventsTotal = try count("events_total")
        eventsGood = try count("events_good")
        rowsTotal = try count("rows_total")
        rowsIngested = try count("rows_ingested")
        rowsRejected = try count("rows_rejected")
        bytes = try count("bytes")
        messages = try count("messages")
        latencyCount = try count("latency_count")
        latencySum = try row.decode(Double.self, "latency_sum") ?? 0
        latencyMax = try row.decode(Double.self, "latency_max")
        latencyAtMost = try LatencyBuckets.bounds.map { try count(LatencyBuckets.column($0)) }
        queueMessagesMax = try row.decode(Int64.self, "queue_messages_max")
        queueOldestAgeMax = try row.decode(Double.self, "queue_oldest_age_max")
    }
}
