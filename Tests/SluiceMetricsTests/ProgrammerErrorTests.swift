import SluiceMetrics
import Testing

/// Misuse traps; exit tests run each body in a child process.
@Suite struct ProgrammerErrorTests {
    @Test func invalidMetricNameTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().gauge(name: "1bad-name", help: "")
        }
    }

    @Test func reservedLabelNameTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().gauge(name: "sluice_ok", help: "", labelNames: ["__reserved"])
        }
    }

    @Test func counterWithoutTotalSuffixTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().counter(name: "sluice_requests", help: "")
        }
    }

    @Test func conflictingRegistrationTraps() async {
        await #expect(processExitsWith: .failure) {
            let registry = MetricsRegistry()
            _ = registry.counter(name: "sluice_x_total", help: "", labelNames: ["a"])
            _ = registry.counter(name: "sluice_x_total", help: "", labelNames: ["b"])
        }
    }

    @Test func clashingSampleNamesTrap() async {
        await #expect(processExitsWith: .failure) {
            let registry = MetricsRegistry()
            _ = registry.histogram(name: "sluice_q_seconds", help: "")
            _ = registry.gauge(name: "sluice_q_seconds_count", help: "")
        }
        await #expect(processExitsWith: .failure) {
            let registry = MetricsRegistry()
            _ = registry.gauge(name: "sluice_r", help: "")
            _ = registry.counter(name: "sluice_r_total", help: "")
        }
    }

    @Test func wrongLabelCountTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().gauge(name: "sluice_y", help: "", labelNames: ["a", "b"]).labels("only-one")
        }
    }

    @Test func negativeIncrementTraps() async {
        await #expect(processExitsWith: .failure) {
            MetricsRegistry().counter(name: "sluice_z_total", help: "").labels().increment(by: -1)
        }
    }
}
