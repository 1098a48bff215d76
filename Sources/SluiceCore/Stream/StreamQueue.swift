import Foundation

/// A tenant's queue of stream requests, bounded by messages and bytes, and the group-commit policy that
/// turns it into micro-batches: a value, driven under its owner's lock, doing no I/O.
struct StreamQueue: Sendable {
    /// Bounds of the queue and of one micro-batch.
    struct Limits: Sendable, Equatable {
        var maxMessages: Int
        var maxBytes: Int
        var batchMessages: Int
        var batchBytes: Int
        /// How long the oldest request waits for others to share its micro-batch.
        var linger: Duration
    }

    /// What an instance asking for work should do.
    enum Next: Sendable {
        /// Nothing is queued.
        case wait
        /// Requests are queued but the micro-batch is not full: ask again after this long.
        case linger(Duration)
        /// Commit these requests as one micro-batch.
        case take([StreamEntry])
    }

    var limits: Limits
    private var entries: [StreamEntry] = []
    private var head = 0
    private(set) var messages = 0
    private(set) var bytes = 0

    init(limits: Limits) {
        self.limits = limits
    }

    var isEmpty: Bool { head == entries.count }

    /// When the oldest queued request arrived.
    var oldestReceivedAt: Date? { isEmpty ? nil : entries[head].receivedAt }

    /// Whether `entry` fits beside what is queued (one larger than the bounds never does).
    func fits(_ entry: StreamEntry) -> Bool {
        messages + entry.payload.count <= limits.maxMessages && bytes + entry.payload.bytes <= limits.maxBytes
    }

    /// Queues `entry`, which must fit.
    mutating func append(_ entry: StreamEntry) {
        entries.append(entry)
        messages += entry.payload.count
        bytes += entry.payload.bytes
    }

    /// The next micro-batch: requests in arrival order up to the batch bounds (at least one), once the batch
    /// bounds are reached or the oldest request has lingered long enough.
    mutating func next(now: ContinuousClock.Instant) -> Next {
        guard head < entries.count else { return .wait }
        let waited = entries[head].received.duration(to: now)
        if waited < limits.linger && messages < limits.batchMessages && bytes < limits.batchBytes {
            return .linger(limits.linger - waited)
        }
        var end = head
        var takenMessages = 0, takenBytes = 0
        while end < entries.count {
            let payload = entries[end].payload
            if end > head && (takenMessages + payload.count > limits.batchMessages || takenBytes + payload.bytes > limits.batchBytes) { break }
            takenMessages += payload.count
            takenBytes += payload.bytes
            end += 1
        }
        let taken = Array(entries[head..<end])
        head = end
        messages -= takenMessages
        bytes -= takenBytes
        compact()
        return .take(taken)
    }

    /// Removes the queued request `id`, if it is still queued.
    mutating func withdraw(_ id: UInt64) -> StreamEntry? {
        guard let index = entries[head...].firstIndex(where: { $0.id == id }) else { return nil }
        let entry = entries.remove(at: index)
        messages -= entry.payload.count
        bytes -= entry.payload.bytes
        return entry
    }

    /// Removes every queued request.
    mutating func removeAll() -> [StreamEntry] {
        defer {
            entries = []
            head = 0
            messages = 0
            bytes = 0
        }
        return Array(entries[head...])
    }

    /// Drops taken entries once they are half the storage.
    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
