/// What a stream window's report adds to the counts every report has: where its messages went, how long
/// they took from arrival to commit, its micro-batches, and the state at the window's end.
public struct StreamWindowDetails: Sendable, Codable, Equatable {
    /// Messages taken into the queue, and their bytes (requests answered 429 are not).
    public var messagesReceived: Int64 = 0
    public var bytesReceived: Int64 = 0
    /// Messages taken that were not committed (the store was unavailable, or the request timed out).
    public var messagesFailed: Int64 = 0
    /// Requests answered 429, by reason (`backpressure`, `rate_limited`), and the messages they held.
    public var throttledRequests: [String: Int64] = [:]
    public var throttledMessages: [String: Int64] = [:]
    /// Received → committed, over the window's committed messages.
    public var latencyMeanSeconds: Double?
    public var latencyP95Seconds: Double?
    public var latencyMaxSeconds: Double?
    /// Committed messages whose latency was at most each ``LatencyBuckets`` bound (cumulative).
    public var latencyAtMost: [Int64]?
    /// Micro-batches committed and their mean size in messages.
    public var microBatches: Int64 = 0
    public var meanBatchMessages: Double?
    /// At the window's end.
    public var queueMessages: Int = 0
    /// How long the oldest queued message had waited, if any was queued.
    public var queueOldestAgeSeconds: Double?
    public var instancesRunning: Int = 0
    /// Instances started during the window, and the longest start (added to its first request's latency).
    public var instancesStarted: Int = 0
    public var instanceStartMaxSeconds: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case messagesReceived = "messages_received", bytesReceived = "bytes_received", messagesFailed = "messages_failed"
        case throttledRequests = "throttled_requests", throttledMessages = "throttled_messages"
        case latencyMeanSeconds = "latency_mean_seconds", latencyP95Seconds = "latency_p95_seconds"
        case latencyMaxSeconds = "latency_max_seconds", microBatches = "micro_batches"
        case meanBatchMessages = "mean_batch_messages", queueMessages = "queue_messages"
        case latencyAtMost = "latency_le", queueOldestAgeSeconds = "queue_oldest_age_seconds"
        case instancesRunning = "instances_running", instancesStarted = "instances_started"
        case instanceStartMaxSeconds = "instance_start_max_seconds"
    }
}
