import Foundation
import SluiceMetrics
import SluiceTestSupport
import Testing

@Suite struct PromtoolTests {
    /// A registry shaped like the server's: labelled counters, gauges, histograms, process and build info.
    static func realisticRegistry() -> MetricsRegistry {
        let registry = MetricsRegistry()
        ProcessMetrics.register(in: registry)
        BuildInfo.register(in: registry, version: "1.2.3", revision: "abc123")
        let requests = registry.counter(name: "sluice_http_requests_total", help: "HTTP requests by route and status.",
                                        labelNames: ["route", "method", "status"])
        requests.labels("/v1/ingest", "POST", "202").increment(by: 10)
        requests.labels("/metrics", "GET", "200").increment()
        requests.labels("/v1/ingest", "POST", "413").increment()
        let rows = registry.counter(name: "sluice_ingested_rows_total", help: "Rows ingested per tenant.",
                                    labelNames: ["tenant"])
        rows.labels("acme \"quoted\" \\ back\nslash").increment(by: 1000)
        rows.labels("globex").increment(by: 5)
        registry.gauge(name: "sluice_store_pool_connections", help: "Pool connections by state.",
                       labelNames: ["state"]).labels("idle").set(4)
        registry.gauge(name: "sluice_queue_depth", help: "Queued batches.").labels().set(0)
        let latency = registry.histogram(name: "sluice_http_request_duration_seconds",
                                         help: "HTTP request latency.", labelNames: ["route"])
        for value in [0.001, 0.02, 0.3, 4, 20] {
            latency.labels("/v1/ingest").observe(value)
        }
        let sizes = registry.histogram(name: "sluice_ingest_body_bytes", help: "Upload sizes.",
                                       buckets: Buckets.exponential(start: 1024, factor: 4, count: 8))
        sizes.labels().observe(50_000)
        return registry
    }

    @Test func promtoolAcceptsRealisticRegistryWithoutLintFindings() throws {
        let result = try Promtool.run(["check", "metrics"], input: Self.realisticRegistry().render(format: .prometheusText))
        #expect(result.status == 0)
        #expect(result.output.isEmpty, "promtool reported: \(result.output)")
    }

    @Test func promtoolRejectsBrokenInput() throws {
        let result = try Promtool.run(["check", "metrics"], input: Array("sluice_broken{label=\"unterminated} 1\n".utf8))
        #expect(result.status != 0)
    }
}
