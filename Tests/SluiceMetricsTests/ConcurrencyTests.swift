import SluiceMetrics
import Testing

@Suite struct ConcurrencyTests {
    @Test func concurrentIncrementsAreExact() async {
        let registry = MetricsRegistry()
        let family = registry.counter(name: "sluice_hits_total", help: "Hits.", labelNames: ["tenant"])
        let gauge = registry.gauge(name: "sluice_balance", help: "Balance.").labels()
        let histogram = registry.histogram(name: "sluice_latency_seconds", help: "Latency.").labels()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask {
                    for _ in 0..<5000 {
                        family.labels("shared").increment()
                        family.labels("tenant-\(task % 8)").increment(by: 2)
                        gauge.increment(by: 3)
                        gauge.decrement()
                        histogram.observe(0.3)
                    }
                }
            }
        }
        #expect(family.labels("shared").value == 320_000)
        #expect((0..<8).map { family.labels("tenant-\($0)").value } == Array(repeating: 80_000, count: 8))
        #expect(gauge.value == 640_000)
        let body = text(registry.render(format: .prometheusText))
        #expect(body.contains("sluice_latency_seconds_count 320000\n"))
        #expect(body.contains("sluice_latency_seconds_bucket{le=\"0.25\"} 0\n"))
        #expect(body.contains("sluice_latency_seconds_bucket{le=\"0.5\"} 320000\n"))
    }

    @Test func tenThousandLabelSetsAreAllRenderedInOrder() {
        let registry = MetricsRegistry()
        let family = registry.counter(name: "sluice_tenant_requests_total", help: "Requests per tenant.",
                                      labelNames: ["tenant"])
        let tenants = (0..<10_000).map { "tenant-\($0)" }
        var generator = SystemRandomNumberGenerator()
        for tenant in tenants.shuffled(using: &generator) {
            family.labels(tenant).increment()
        }
        // Looking a label set up again finds the same child instead of adding one.
        #expect(family.labels("tenant-42") === family.labels("tenant-42"))
        family.labels("tenant-42").increment()

        let lines = text(registry.render(format: .prometheusText)).split(separator: "\n")
        let samples = lines.filter { !$0.hasPrefix("#") }
        let expected = tenants.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map {
            "sluice_tenant_requests_total{tenant=\"\($0)\"} \($0 == "tenant-42" ? "2.0" : "1.0")"
        }
        #expect(samples.count == 10_000)
        #expect(samples.map(String.init) == expected)
    }
}
