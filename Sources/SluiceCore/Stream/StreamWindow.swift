import Foundation

/// What one tenant's stream path did in this process since its window opened, turned into a `stream`
/// ingestion report when the window closes.
struct StreamWindow: Sendable {
    /// Latencies kept for the 95th percentile; the mean and maximum cover every message.
    static let maximumSamples = 4096

    let startedAt: Date
    private(set) var details = StreamWindowDetails()
    private var accepted: Int64 = 0
    private var rejected: Int64 = 0
    private var rejectedByReason: [String: Int64] = [:]
    private var latencySum = 0.0
    private var latencyCount: Int64 = 0
    private var latencyAtMost = [Int64](repeating: 0, count: LatencyBuckets.bounds.count)
    private var samples: [Double] = []
    private var sampled = 0
    private var batchMessages: Int64 = 0

    init(startedAt: Date) {
        self.startedAt = startedAt
    }

    /// Whether anything happened: a window without traffic gets no report, unless instances ran.
    var hasTraffic: Bool {
        details.messagesReceived > 0 || !details.throttledRequests.isEmpty || details.instancesStarted > 0
    }

    mutating func received(messages: Int, bytes: Int) {
        details.messagesReceived += Int64(messages)
        details.bytesReceived += Int64(bytes)
    }

    mutating func throttled(_ reason: String, messages: Int) {
        details.throttledRequests[reason, default: 0] += 1
        details.throttledMessages[reason, default: 0] += Int64(messages)
    }

    /// A request's messages were committed `latency` seconds after it arrived.
    mutating func committed(_ answer: StreamAnswer, latency: Double) {
        accepted += Int64(answer.accepted)
        rejected += Int64(answer.rejected)
        for reject in answer.rejects { rejectedByReason[reject.reason, default: 0] += 1 }
        let messages = answer.accepted + answer.rejected
        latencySum += latency * Double(messages)
        latencyCount += Int64(messages)
        details.latencyMaxSeconds = max(details.latencyMaxSeconds ?? 0, latency)
        if let first = LatencyBuckets.bounds.firstIndex(where: { latency <= $0 }) {
            for index in first..<latencyAtMost.count { latencyAtMost[index] += Int64(messages) }
        }
        sampled += 1
        if samples.count < Self.maximumSamples {
            samples.append(latency)
        } else {
            let slot = Int.random(in: 0..<sampled)
            if slot < Self.maximumSamples { samples[slot] = latency }
        }
    }

    /// A request's messages were taken but not committed.
    mutating func failed(messages: Int) {
        details.messagesFailed += Int64(messages)
    }

    mutating func batchCommitted(messages: Int) {
        details.microBatches += 1
        batchMessages += Int64(messages)
    }

    mutating func instanceStarted(seconds: Double) {
        details.instancesStarted += 1
        details.instanceStartMaxSeconds = max(details.instanceStartMaxSeconds ?? 0, seconds)
    }

    /// The window's report, closing at `finishedAt` with the queue and instances as they are then.
    func report(tenant: String, sourceID: String, finishedAt: Date, queueMessages: Int, queueOldest: Date?,
                instancesRunning: Int, appKind: String) -> IngestionReport {
        var details = self.details
        details.queueMessages = queueMessages
        details.queueOldestAgeSeconds = queueOldest.map { max(0, finishedAt.timeIntervalSince($0)) }
        details.instancesRunning = instancesRunning
        if latencyCount > 0 {
            details.latencyAtMost = latencyAtMost
            details.latencyMeanSeconds = latencySum / Double(latencyCount)
            let sorted = samples.sorted()
            details.latencyP95Seconds = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        }
        if details.microBatches > 0 { details.meanBatchMessages = Double(batchMessages) / Double(details.microBatches) }
        let outcome: IngestionReport.Outcome = rejected == 0 && details.messagesFailed == 0 ? .succeeded
            : accepted > 0 ? .partial : .failed
        var errors: [String] = []
        if details.messagesFailed > 0 { errors.append("\(details.messagesFailed) messages were not committed (store unavailable or timed out)") }
        if rejected > 0 && accepted == 0 { errors.append("every committed message was rejected") }
        return IngestionReport(
            tenantID: tenant, kind: .stream, sourceID: sourceID, sourceName: nil, bytes: details.bytesReceived,
            rowsTotal: accepted + rejected, rowsIngested: accepted, rowsRejected: rejected, rejectedByReason: rejectedByReason,
            receivedAt: nil, startedAt: startedAt, finishedAt: max(finishedAt, startedAt), appKind: appKind, outcome: outcome,
            error: errors.isEmpty ? nil : errors.joined(separator: "; "), stream: details)
    }
}
