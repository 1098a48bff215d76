import SluiceMetrics
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ProcessMetricsTests {
    @Test func processMetricsArePresentAndPlausible() throws {
        let registry = MetricsRegistry()
        ProcessMetrics.register(in: registry)
        BuildInfo.register(in: registry, version: "1.0.0", revision: "deadbeef")
        let body = text(registry.render(format: .prometheusText))

        let resident = try #require(sampleValue("process_resident_memory_bytes", in: body))
        let virtual = try #require(sampleValue("process_virtual_memory_bytes", in: body))
        let maxFDs = try #require(sampleValue("process_max_fds", in: body))
        let openFDs = try #require(sampleValue("process_open_fds", in: body))
        let cpu = try #require(sampleValue("process_cpu_seconds_total", in: body))
        let start = try #require(sampleValue("process_start_time_seconds", in: body))
        let now = Double(time(nil))

        #expect(resident > 1024 * 1024)
        #expect(virtual >= resident)
        #expect(maxFDs > 0)
        #expect(openFDs >= 3 && openFDs <= maxFDs)
        #expect(cpu > 0)
        #expect(start > now - 3600 && start <= now + 1)
        #expect(body.contains("# TYPE process_cpu_seconds_total counter\n"))
        #expect(body.contains("sluice_build_info{version=\"1.0.0\",revision=\"deadbeef\"} 1.0\n"))

        let openMetrics = text(registry.render(format: .openMetrics))
        #expect(openMetrics.contains("# TYPE process_cpu_seconds counter\n"))
    }
}
