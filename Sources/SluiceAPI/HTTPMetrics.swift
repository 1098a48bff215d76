import SluiceHTTP
import SluiceMetrics

/// Prometheus metrics of the HTTP front door, fed by the transport's per-request reports.
public struct HTTPMetrics: Sendable {
    private let requests: CounterFamily
    private let duration: HistogramFamily

    public init(registry: MetricsRegistry, server: @escaping @Sendable () -> HTTPServer?) {
        requests = registry.counter(name: "sluice_http_requests_total",
                                    help: "HTTP requests finished, by route template, method and status code.",
                                    labelNames: ["route", "method", "code"])
        duration = registry.histogram(name: "sluice_http_request_duration_seconds",
                                      help: "Time from the request head to the end of the response.",
                                      labelNames: ["route", "method"], buckets: Buckets.defaults)
        let inFlight = registry.gauge(name: "sluice_http_requests_in_flight", help: "HTTP requests being served.")
        let connections = registry.gauge(name: "sluice_http_connections", help: "Open HTTP client connections.")
        let suspended = registry.gauge(name: "sluice_http_connections_suspended",
                                       help: "Connections held back: their handler is behind on the body or still answering.")
        let refused = registry.counter(name: "sluice_http_connections_refused_total",
                                       help: "Connections closed at once because the connection limit was reached.")
        let slow = registry.counter(name: "sluice_http_slow_clients_closed_total",
                                    help: "Connections closed because a request head did not arrive in time (reason head) "
                                        + "or a request body arrived slower than the minimum rate (reason body).",
                                    labelNames: ["reason"])
        registry.addCollector {
            guard let server = server() else { return }
            inFlight.labels().set(Double(server.inFlightRequests))
            connections.labels().set(Double(server.openConnections))
            suspended.labels().set(Double(server.suspendedConnections))
            refused.labels().set(toTotal: Double(server.refusedConnections))
            slow.labels("head").set(toTotal: Double(server.headTimeouts))
            slow.labels("body").set(toTotal: Double(server.slowBodies))
        }
    }

    /// Records one finished request; `aborted` stands for requests that ended without a response.
    public func record(_ log: HTTPRequestLog) {
        requests.labels(log.routeTemplate, log.method.rawValue, log.status.map(String.init) ?? "aborted").increment()
        duration.labels(log.routeTemplate, log.method.rawValue).observe(log.durationSeconds)
    }
}
