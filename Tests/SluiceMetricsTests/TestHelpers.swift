import SluiceMetrics

func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// The value of the first sample line `name value` or `name{…} value` in `exposition`.
func sampleValue(_ name: String, in exposition: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}

/// A small registry whose families and children are added in anti-sorted order.
func makeSmallRegistry(reversed: Bool = false) -> MetricsRegistry {
    let registry = MetricsRegistry()
    var steps: [() -> Void] = [
        {
            let requests = registry.counter(name: "sluice_requests_total", help: "Requests handled.",
                                            labelNames: ["method", "status"])
            requests.labels("POST", "500").increment()
            requests.labels("GET", "404").increment()
            requests.labels("GET", "200").increment(by: 2.5)
        },
        {
            let latency = registry.histogram(name: "sluice_request_duration_seconds", help: "Request latency.",
                                             labelNames: ["route"], buckets: [0.25, 1])
            latency.labels("/b").observe(0.125)
            latency.labels("/b").observe(0.5)
            latency.labels("/b").observe(3)
            latency.labels("/a").observe(1)
        },
        {
            registry.gauge(name: "sluice_inflight_requests", help: "In-flight requests.").labels().set(3)
        },
    ]
    if reversed { steps.reverse() }
    steps.forEach { $0() }
    return registry
}
