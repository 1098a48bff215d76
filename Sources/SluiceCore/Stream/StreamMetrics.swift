import SluiceMetrics

/// Prometheus metrics of the stream path, all by tenant.
public struct StreamMetrics: Sendable {
    private let messages: CounterFamily
    private let bytes: CounterFamily
    private let requests: CounterFamily
    private let ackLatency: HistogramFamily
    private let queueMessages: GaugeFamily
    private let queueBytes: GaugeFamily
    private let throttled: CounterFamily
    private let instances: GaugeFamily
    private let restarts: CounterFamily
    private let actions: CounterFamily
    private let batchMessages: HistogramFamily

    public init(registry: MetricsRegistry) {
        messages = registry.counter(name: "sluice_stream_messages_total",
                                    help: "Stream messages committed, by outcome (accepted into the tenant table, or rejected).",
                                    labelNames: ["tenant", "outcome"])
        bytes = registry.counter(name: "sluice_stream_bytes_total", help: "Bytes of stream messages taken into the queue.",
                                 labelNames: ["tenant"])
        requests = registry.counter(name: "sluice_stream_requests_total", help: "Stream requests answered, by HTTP status code.",
                                    labelNames: ["tenant", "code"])
        ackLatency = registry.histogram(name: "sluice_stream_ack_latency_seconds",
                                        help: "Time from a stream request's arrival to its answer.", labelNames: ["tenant"],
                                        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        queueMessages = registry.gauge(name: "sluice_stream_queue_messages", help: "Messages waiting in the tenant's stream queue.",
                                       labelNames: ["tenant"])
        queueBytes = registry.gauge(name: "sluice_stream_queue_bytes", help: "Bytes waiting in the tenant's stream queue.",
                                    labelNames: ["tenant"])
        throttled = registry.counter(name: "sluice_stream_throttled_total",
                                     help: "Stream requests refused with 429, by reason (backpressure: the queue is full; rate_limited).",
                                     labelNames: ["tenant", "reason"])
        instances = registry.gauge(name: "sluice_stream_instances",
                                   help: "Stream app instances of the tenant in this process: running, and desired.",
                                   labelNames: ["tenant", "state"])
        restarts = registry.counter(name: "sluice_stream_app_restarts_total",
                                    help: "Restarts of tenants' external stream apps after a crash, hang or misbehaviour.",
                                    labelNames: ["tenant"])
        actions = registry.counter(name: "sluice_stream_actions_total",
                                   help: "Stream manager actions, by action, source and outcome (applied, clamped, rejected).",
                                   labelNames: ["tenant", "action", "source", "outcome"])
        batchMessages = registry.histogram(name: "sluice_stream_commit_batch_messages",
                                           help: "Messages per committed stream micro-batch (one COPY, one transaction).",
                                           labelNames: ["tenant"], buckets: Buckets.exponential(start: 1, factor: 4, count: 8))
    }

    func answered(tenant: String, status: Int, seconds: Double) {
        requests.labels(tenant, String(status)).increment()
        ackLatency.labels(tenant).observe(seconds)
    }

    func received(tenant: String, bytes count: Int) {
        bytes.labels(tenant).increment(by: Double(count))
    }

    func committed(tenant: String, accepted: Int, rejected: Int) {
        if accepted > 0 { messages.labels(tenant, "accepted").increment(by: Double(accepted)) }
        if rejected > 0 { messages.labels(tenant, "rejected").increment(by: Double(rejected)) }
    }

    func batchCommitted(tenant: String, messages count: Int) {
        batchMessages.labels(tenant).observe(Double(count))
    }

    func throttled(tenant: String, reason: String) {
        throttled.labels(tenant, reason).increment()
    }

    func queue(tenant: String, messages count: Int, bytes size: Int) {
        queueMessages.labels(tenant).set(Double(count))
        queueBytes.labels(tenant).set(Double(size))
    }

    func instances(tenant: String, running: Int, desired: Int) {
        instances.labels(tenant, "running").set(Double(running))
        instances.labels(tenant, "desired").set(Double(desired))
    }

    func restarted(tenant: String) {
        restarts.labels(tenant).increment()
    }

    func action(tenant: String, action: String, source: String, outcome: String) {
        actions.labels(tenant, action, source, outcome).increment()
    }

    /// Ensures the tenant's series exist from its first request (counters at 0).
    func touch(tenant: String) {
        _ = messages.labels(tenant, "accepted")
        _ = messages.labels(tenant, "rejected")
        _ = restarts.labels(tenant)
        _ = throttled.labels(tenant, TenantStream.Refusal.backpressure.rawValue)
        _ = throttled.labels(tenant, TenantStream.Refusal.rateLimited.rawValue)
    }
}
