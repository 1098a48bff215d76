/// The series Sluice computes over its ingestion reports, readiness probes and file ledger: what rules
/// watch and `GET …/series` answers. Their names are fixed points (rule files and dashboards use them).
public enum Series: String, Sendable, CaseIterable, Codable {
    case ingestRowsPerSecond = "ingest_rows_per_second"
    case ingestBytesPerSecond = "ingest_bytes_per_second"
    case ingestMessagesPerSecond = "ingest_messages_per_second"
    case latencyAverageSeconds = "latency_average_seconds"
    case latencyP50Seconds = "latency_p50_seconds"
    case latencyP95Seconds = "latency_p95_seconds"
    case latencyP99Seconds = "latency_p99_seconds"
    case latencyMaxSeconds = "latency_max_seconds"
    case rejectRatio = "reject_ratio"
    case failedFileRatio = "failed_file_ratio"
    /// Successful ingestions (files not failed, stream messages committed) over all.
    case availability
    /// Readiness probes that passed over all, platform-wide (not per tenant).
    case readinessAvailability = "readiness_availability"
    /// Files received and not yet ingested.
    case backlogFiles = "backlog_files"
    /// The age of the oldest file not yet ingested or stream message not yet committed.
    case backlogOldestAgeSeconds = "backlog_oldest_age_seconds"
    /// The largest stream queue a window ended with.
    case streamQueueMessages = "stream_queue_messages"

    /// Where a series comes from.
    public enum Source: Sendable {
        case reports, probes, backlog
    }

    public var source: Source {
        switch self {
        case .readinessAvailability: .probes
        case .backlogFiles, .backlogOldestAgeSeconds: .backlog
        default: .reports
        }
    }

    /// Whether the series belongs to a tenant (all but the platform's readiness).
    public var isPerTenant: Bool { source != .probes }

    /// The value over a window of `seconds`, from the reports' sums; nil when there is no data (no
    /// ingestion at all for a ratio or a latency).
    func value(_ sums: ReportAggregate, seconds: Double) -> Double? {
        func ratio(_ part: Int64, _ whole: Int64) -> Double? { whole > 0 ? Double(part) / Double(whole) : nil }
        switch self {
        case .ingestRowsPerSecond: return Double(sums.rowsIngested) / seconds
        case .ingestBytesPerSecond: return Double(sums.bytes) / seconds
        case .ingestMessagesPerSecond: return Double(sums.messages) / seconds
        case .latencyAverageSeconds: return sums.latencyCount > 0 ? sums.latencySum / Double(sums.latencyCount) : nil
        case .latencyP50Seconds: return LatencyBuckets.quantile(0.5, counts: sums.latencyAtMost, total: sums.latencyCount)
        case .latencyP95Seconds: return LatencyBuckets.quantile(0.95, counts: sums.latencyAtMost, total: sums.latencyCount)
        case .latencyP99Seconds: return LatencyBuckets.quantile(0.99, counts: sums.latencyAtMost, total: sums.latencyCount)
        case .latencyMaxSeconds: return sums.latencyMax
        case .rejectRatio: return ratio(sums.rowsRejected, sums.rowsTotal)
        case .failedFileRatio: return ratio(sums.filesFailed, sums.files)
        case .availability: return ratio(sums.eventsGood, sums.eventsTotal)
        case .streamQueueMessages: return sums.queueMessagesMax.map(Double.init) ?? (sums.reports > 0 ? 0 : nil)
        case .readinessAvailability, .backlogFiles, .backlogOldestAgeSeconds: return nil
        }
    }

    /// The value from a backlog sample and the reports' sums (a stream queue's oldest message).
    func value(_ backlog: BacklogSample, _ sums: ReportAggregate) -> Double? {
        switch self {
        case .backlogFiles: Double(backlog.files)
        case .backlogOldestAgeSeconds: max(backlog.oldestFileAgeSeconds ?? 0, sums.queueOldestAgeMax ?? 0)
        default: nil
        }
    }
}

/// Files received and not yet ingested at a moment, and how long the oldest had waited.
public struct BacklogSample: Sendable, Equatable {
    public var files: Int
    public var oldestFileAgeSeconds: Double?
}

/// Readiness probes in a window.
public struct ProbeCounts: Sendable, Equatable {
    public var passed: Int64 = 0
    public var total: Int64 = 0

    var availability: Double? { total > 0 ? Double(passed) / Double(total) : nil }
}
