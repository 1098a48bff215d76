import SluiceMetrics
import Testing

@Suite struct RenderingTests {
    static let histogramText = """
        # HELP sluice_request_duration_seconds Request latency.
        # TYPE sluice_request_duration_seconds histogram
        sluice_request_duration_seconds_bucket{route="/a",le="0.25"} 0
        sluice_request_duration_seconds_bucket{route="/a",le="1.0"} 1
        sluice_request_duration_seconds_bucket{route="/a",le="+Inf"} 1
        sluice_request_duration_seconds_sum{route="/a"} 1.0
        sluice_request_duration_seconds_count{route="/a"} 1
        sluice_request_duration_seconds_bucket{route="/b",le="0.25"} 1
        sluice_request_duration_seconds_bucket{route="/b",le="1.0"} 2
        sluice_request_duration_seconds_bucket{route="/b",le="+Inf"} 3
        sluice_request_duration_seconds_sum{route="/b"} 3.625
        sluice_request_duration_seconds_count{route="/b"} 3

        """

    @Test func prometheusTextMatchesExactly() {
        let expected = """
            # HELP sluice_inflight_requests In-flight requests.
            # TYPE sluice_inflight_requests gauge
            sluice_inflight_requests 3.0

            """ + Self.histogramText + """
            # HELP sluice_requests_total Requests handled.
            # TYPE sluice_requests_total counter
            sluice_requests_total{method="GET",status="200"} 2.5
            sluice_requests_total{method="GET",status="404"} 1.0
            sluice_requests_total{method="POST",status="500"} 1.0

            """
        #expect(text(makeSmallRegistry().render(format: .prometheusText)) == expected)
    }

    @Test func openMetricsMatchesExactly() {
        let expected = """
            # HELP sluice_inflight_requests In-flight requests.
            # TYPE sluice_inflight_requests gauge
            sluice_inflight_requests 3.0

            """ + Self.histogramText + """
            # HELP sluice_requests Requests handled.
            # TYPE sluice_requests counter
            sluice_requests_total{method="GET",status="200"} 2.5
            sluice_requests_total{method="GET",status="404"} 1.0
            sluice_requests_total{method="POST",status="500"} 1.0
            # EOF

            """
        #expect(text(makeSmallRegistry().render(format: .openMetrics)) == expected)
    }

    @Test func openMetricsEndsWithEOF() {
        #expect(text(MetricsRegistry().render(format: .openMetrics)) == "# EOF\n")
        let registry = makeSmallRegistry()
        #expect(text(registry.render(format: .openMetrics)).hasSuffix("1.0\n# EOF\n"))
        #expect(!text(registry.render(format: .prometheusText)).contains("# EOF"))
    }

    @Test func outputIsIndependentOfInsertionOrder() {
        for format in [ExpositionFormat.prometheusText, .openMetrics] {
            #expect(makeSmallRegistry().render(format: format) == makeSmallRegistry(reversed: true).render(format: format))
        }
    }

    @Test func escapesLabelValuesAndHelp() {
        let registry = MetricsRegistry()
        registry.gauge(name: "sluice_escape", help: "Path C:\\temp\nnext \"quoted\"", labelNames: ["path"])
            .labels("a\\b\"c\nd").set(-0.5)
        #expect(text(registry.render(format: .prometheusText)) == """
            # HELP sluice_escape Path C:\\\\temp\\nnext "quoted"
            # TYPE sluice_escape gauge
            sluice_escape{path="a\\\\b\\"c\\nd"} -0.5

            """)
        #expect(text(registry.render(format: .openMetrics)) == """
            # HELP sluice_escape Path C:\\\\temp\\nnext \\"quoted\\"
            # TYPE sluice_escape gauge
            sluice_escape{path="a\\\\b\\"c\\nd"} -0.5
            # EOF

            """)
    }

    @Test func specialValuesUsePrometheusSpelling() {
        let registry = MetricsRegistry()
        let gauge = registry.gauge(name: "sluice_special", help: "Special values.", labelNames: ["kind"])
        gauge.labels("a_pos").set(.infinity)
        gauge.labels("b_neg").set(-.infinity)
        gauge.labels("c_nan").set(.nan)
        gauge.labels("d_int").set(42)
        gauge.labels("e_small").set(1e-7)
        let lines = text(registry.render(format: .prometheusText)).split(separator: "\n").dropFirst(2)
        #expect(lines.map(String.init) == [
            "sluice_special{kind=\"a_pos\"} +Inf",
            "sluice_special{kind=\"b_neg\"} -Inf",
            "sluice_special{kind=\"c_nan\"} NaN",
            "sluice_special{kind=\"d_int\"} 42.0",
            "sluice_special{kind=\"e_small\"} 1e-07",
        ])
    }

    @Test func unlabelledMetricsAreExportedBeforeFirstUse() {
        let registry = MetricsRegistry()
        _ = registry.counter(name: "sluice_started_total", help: "Starts.")
        _ = registry.histogram(name: "sluice_wait_seconds", help: "Wait.", buckets: [1])
        let body = text(registry.render(format: .prometheusText))
        #expect(body.contains("\nsluice_started_total 0.0\n"))
        #expect(body.contains("\nsluice_wait_seconds_bucket{le=\"+Inf\"} 0\n"))
        #expect(body.contains("\nsluice_wait_seconds_count 0\n"))
    }

    @Test func reRegistrationReturnsTheSameFamilyAndChild() {
        let registry = MetricsRegistry()
        let first = registry.counter(name: "sluice_jobs_total", help: "Jobs.", labelNames: ["tenant"])
        let second = registry.counter(name: "sluice_jobs_total", help: "Jobs.", labelNames: ["tenant"])
        #expect(first === second)
        #expect(first.labels("acme") === second.labels(["acme"]))
        let histogram = registry.histogram(name: "sluice_size_bytes", help: "Size.",
                                           buckets: Buckets.exponential(start: 1, factor: 4, count: 3))
        #expect(histogram === registry.histogram(name: "sluice_size_bytes", help: "Size.", buckets: [1, 4, 16]))
        #expect(histogram.buckets == [1, 4, 16])
    }

    @Test func removedChildrenDisappear() {
        let registry = MetricsRegistry()
        let gauge = registry.gauge(name: "sluice_tenant_rows", help: "Rows.", labelNames: ["tenant"])
        gauge.labels("gone").set(1)
        gauge.labels("kept").set(2)
        gauge.remove("gone")
        let body = text(registry.render(format: .prometheusText))
        #expect(!body.contains("gone"))
        #expect(body.contains("sluice_tenant_rows{tenant=\"kept\"} 2.0"))
    }

    @Test func countersGaugesAndHistogramsUpdate() throws {
        let registry = MetricsRegistry()
        let counter = registry.counter(name: "sluice_a_total", help: "A.").labels()
        counter.increment()
        counter.increment(by: 2)
        #expect(counter.value == 3)
        counter.set(toTotal: 10)
        #expect(counter.value == 10)
        let gauge = registry.gauge(name: "sluice_b", help: "B.").labels()
        gauge.set(5)
        gauge.increment()
        gauge.decrement(by: 3)
        #expect(gauge.value == 3)
        let histogram = registry.histogram(name: "sluice_c_seconds", help: "C.").labels()
        let result = histogram.time { 42 }
        #expect(result == 42)
        let body = text(registry.render(format: .prometheusText))
        #expect(body.contains("sluice_c_seconds_count 1\n"))
        #expect(body.contains("sluice_c_seconds_bucket{le=\"0.005\"} 1\n"))
    }

    @Test func collectorsRunBeforeEachRender() {
        let registry = MetricsRegistry()
        let gauge = registry.gauge(name: "sluice_renders", help: "Renders.").labels()
        registry.addCollector { gauge.increment() }
        _ = registry.render(format: .prometheusText)
        let body = text(registry.render(format: .openMetrics))
        #expect(body.contains("sluice_renders 2.0\n"))
    }
}
