import SluiceMetrics
import Testing

/// Series of one label value (a tenant) can be dropped from every family at once.
@Suite struct SeriesRemovalTests {
    @Test func seriesOfGoneLabelValuesAreRemovedFromEveryFamily() {
        let registry = MetricsRegistry(configuration: .init(snapshotMaximumAge: .zero))
        let uploads = registry.counter(name: "sluice_uploads_total", help: "Uploads.", labelNames: ["tenant", "outcome"])
        let staged = registry.gauge(name: "sluice_staged_files", help: "Staged.", labelNames: ["tenant"])
        let latency = registry.histogram(name: "sluice_latency_seconds", help: "Latency.", labelNames: ["tenant"], buckets: [1])
        let other = registry.counter(name: "sluice_other_total", help: "No tenant label.", labelNames: ["kind"])
        for tenant in ["a", "b", "c"] {
            uploads.labels(tenant, "accepted").increment()
            staged.labels(tenant).set(1)
            latency.labels(tenant).observe(0.5)
        }
        other.labels("a").increment()
        #expect(registry.values(ofLabel: "tenant") == ["a", "b", "c"])

        registry.removeSeries(whereLabel: "tenant", isIn: ["b", "c"])
        #expect(registry.values(ofLabel: "tenant") == ["a"])
        let text = String(decoding: registry.render(format: .prometheusText), as: UTF8.self)
        #expect(!text.contains("tenant=\"b\"") && !text.contains("tenant=\"c\""))
        #expect(text.contains("sluice_uploads_total{tenant=\"a\",outcome=\"accepted\"} 1"))
        #expect(text.contains("sluice_other_total{kind=\"a\"} 1"), "families without the label keep their series")
    }
}
