/// How Sluice runs a tenant's stream path: its app instances and the bounds of its queue and micro-batches
/// (`service_agreement.stream`). Bounds left out take the platform's defaults (``StreamManager/Configuration``).
public struct StreamAgreement: Sendable, Equatable {
    /// Instances kept running even without traffic.
    public var minInstances: Int
    /// The most instances the tenant may have.
    public var maxInstances: Int
    /// An instance without work for this long stops (down to `minInstances`), when `startOnDemand`.
    public var idleStopSeconds: Int
    /// Whether a message starts an instance when none runs (and idle ones stop).
    public var startOnDemand: Bool
    /// Messages and bytes the tenant's queue holds at most; beyond, requests get `429 backpressure`.
    public var maxQueueMessages: Int?
    public var maxQueueBytes: Int?
    /// A micro-batch is flushed when it holds this many messages or bytes, or after `lingerMilliseconds`.
    public var batchMessages: Int?
    public var batchBytes: Int?
    public var lingerMilliseconds: Int?

    public init(minInstances: Int = 0, maxInstances: Int = 4, idleStopSeconds: Int = 300, startOnDemand: Bool = true,
                maxQueueMessages: Int? = nil, maxQueueBytes: Int? = nil, batchMessages: Int? = nil, batchBytes: Int? = nil,
                lingerMilliseconds: Int? = nil) {
        self.minInstances = minInstances
        self.maxInstances = maxInstances
        self.idleStopSeconds = idleStopSeconds
        self.startOnDemand = startOnDemand
        self.maxQueueMessages = maxQueueMessages
        self.maxQueueBytes = maxQueueBytes
        self.batchMessages = batchMessages
        self.batchBytes = batchBytes
        self.lingerMilliseconds = lingerMilliseconds
    }
}

/// A token-bucket limit on a tenant's stream messages (`constraints.max_stream_rate`).
public struct StreamRate: Sendable, Equatable {
    /// The sustained rate.
    public var messagesPerSecond: Double
    /// How many messages may arrive at once.
    public var burst: Int

    public init(messagesPerSecond: Double, burst: Int) {
        self.messagesPerSecond = messagesPerSecond
        self.burst = burst
    }

    /// The rates a limit or a throttle may name: from one message in 1,000 s (a wait still a `Duration`) to a
    /// billion a second (a burst still an `Int`).
    public static let allowedMessagesPerSecond = 0.001...1_000_000_000.0
}

extension StreamAgreement: Encodable {
    private enum CodingKeys: String, CodingKey {
        case minInstances = "min_instances", maxInstances = "max_instances", idleStopSeconds = "idle_stop_seconds"
        case startOnDemand = "start_on_demand", maxQueueMessages = "max_queue_messages", maxQueueBytes = "max_queue_bytes"
        case batchMessages = "batch_messages", batchBytes = "batch_bytes", lingerMilliseconds = "linger_ms"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(minInstances, forKey: .minInstances)
        try container.encode(maxInstances, forKey: .maxInstances)
        try container.encode(idleStopSeconds, forKey: .idleStopSeconds)
        try container.encode(startOnDemand, forKey: .startOnDemand)
        try container.encodeIfPresent(maxQueueMessages, forKey: .maxQueueMessages)
        try container.encodeIfPresent(maxQueueBytes, forKey: .maxQueueBytes)
        try container.encodeIfPresent(batchMessages, forKey: .batchMessages)
        try container.encodeIfPresent(batchBytes, forKey: .batchBytes)
        try container.encodeIfPresent(lingerMilliseconds, forKey: .lingerMilliseconds)
    }
}

extension StreamRate: Encodable {
    private enum CodingKeys: String, CodingKey {
        case messagesPerSecond = "messages_per_second", burst
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(messagesPerSecond, forKey: .messagesPerSecond)
        try container.encode(burst, forKey: .burst)
    }
}

extension DefinitionReader {
    mutating func streamAgreement(_ value: JSONValue, at path: String) -> StreamAgreement {
        var agreement = StreamAgreement()
        let keys = ["min_instances", "max_instances", "idle_stop_seconds", "start_on_demand", "max_queue_messages",
                    "max_queue_bytes", "batch_messages", "batch_bytes", "linger_ms"]
        guard let members = object(value, at: path, allowed: keys) else { return agreement }
        func count(_ key: String, minimum: Int) -> Int? {
            members[key].flatMap { integer($0, at: Self.path(path, key), minimum: minimum) }
        }
        if let value = count("min_instances", minimum: 0) { agreement.minInstances = value }
        if let value = count("max_instances", minimum: 1) { agreement.maxInstances = value }
        if let value = count("idle_stop_seconds", minimum: 1) { agreement.idleStopSeconds = value }
        if let value = members["start_on_demand"].flatMap({ bool($0, at: Self.path(path, "start_on_demand")) }) {
            agreement.startOnDemand = value
        }
        agreement.maxQueueMessages = count("max_queue_messages", minimum: 1)
        agreement.maxQueueBytes = members["max_queue_bytes"].flatMap { size($0, at: Self.path(path, "max_queue_bytes")) }
        agreement.batchMessages = count("batch_messages", minimum: 1)
        agreement.batchBytes = members["batch_bytes"].flatMap { size($0, at: Self.path(path, "batch_bytes")) }
        agreement.lingerMilliseconds = count("linger_ms", minimum: 0)
        if agreement.minInstances > agreement.maxInstances {
            problem(Self.path(path, "min_instances"), "must not exceed max_instances (\(agreement.maxInstances))")
        }
        if let batch = agreement.batchMessages, batch > RowLoader.maximumStoredRejects {
            problem(Self.path(path, "batch_messages"), "must be at most \(RowLoader.maximumStoredRejects)")
        }
        return agreement
    }

    mutating func streamRate(_ value: JSONValue, at path: String) -> StreamRate? {
        guard let members = object(value, at: path, allowed: ["messages_per_second", "burst"]) else { return nil }
        let ratePath = Self.path(path, "messages_per_second")
        guard let rateValue = required(members["messages_per_second"], at: ratePath) else { return nil }
        guard case .number(let rate) = rateValue, StreamRate.allowedMessagesPerSecond.contains(rate) else {
            problem(ratePath, "\(rateValue.quoted) is not a number from 0.001 to 1000000000")
            return nil
        }
        guard let burstValue = members["burst"] else { return StreamRate(messagesPerSecond: rate, burst: max(1, Int(rate.rounded(.up)))) }
        return integer(burstValue, at: Self.path(path, "burst"), minimum: 1).map { StreamRate(messagesPerSecond: rate, burst: $0) }
    }
}
