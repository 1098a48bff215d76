import SluiceMetrics

/// Prometheus metrics of deliveries to receivers that send out (webhooks, email).
public struct NotificationMetrics: Sendable {
    private let notifications: CounterFamily
    private let duration: HistogramFamily
    private let queue: GaugeFamily
    private let dropped: CounterFamily

    public init(registry: MetricsRegistry) {
        // The family the monitor counts its stream-manager deliveries in too.
        notifications = registry.counter(name: "sluice_notifications_total",
                                         help: "Alert notifications given to receivers, by receiver, integration and outcome.",
                                         labelNames: ["receiver", "integration", "outcome"])
        duration = registry.histogram(name: "sluice_notification_duration_seconds", help: "Time of one delivery attempt.",
                                      labelNames: ["integration"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        queue = registry.gauge(name: "sluice_notification_queue", help: "Notifications waiting for their receiver.",
                               labelNames: ["receiver"])
        dropped = registry.counter(name: "sluice_notifications_dropped_total",
                                   help: "Notifications dropped because their receiver's queue was full (the oldest go).",
                                   labelNames: ["receiver"])
    }

    /// Gives a receiver's series their zero values when it starts, so rates and ratios over them exist at once.
    func started(receiver: String, integration: String) {
        for outcome in ["delivered", "failed"] { _ = notifications.labels(receiver, integration, outcome) }
        queue.labels(receiver).set(0)
        _ = dropped.labels(receiver)
    }

    func finished(receiver: String, integration: String, outcome: String) {
        notifications.labels(receiver, integration, outcome).increment()
    }

    func attempted(integration: String, seconds: Double) {
        duration.labels(integration).observe(seconds)
    }

    func queued(receiver: String, _ count: Int) {
        queue.labels(receiver).set(Double(count))
    }

    func dropped(receiver: String) {
        dropped.labels(receiver).increment()
    }
}
