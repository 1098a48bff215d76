import SluiceCompression
import SluiceMetrics
import Synchronization
import Testing

@Suite struct SnapshotTests {
    final class Calls: Sendable {
        let count = Atomic<Int>(0)
    }

    @Test(arguments: [ExpositionFormat.prometheusText, .openMetrics])
    func gzipBodyDecompressesToPlainBody(format: ExpositionFormat) throws {
        let registry = PromtoolTests.realisticRegistry()
        let plain = registry.snapshot(format: format, gzip: false)
        let gzipped = registry.snapshot(format: format, gzip: true)
        #expect(!plain.isGzipped)
        #expect(gzipped.isGzipped)
        #expect(plain.contentType == format.contentType)
        #expect(gzipped.contentType == format.contentType)
        #expect(try Gzip.decompress(gzipped.body, maximumSize: 1 << 24) == plain.body)
    }

    @Test func cachedWithinMaximumAgeAndFreshAfterExpiry() async throws {
        let registry = MetricsRegistry(configuration: .init(snapshotMaximumAge: .milliseconds(300)))
        let counter = registry.counter(name: "sluice_events_total", help: "Events.").labels()
        let first = registry.snapshot(format: .prometheusText, gzip: true)
        counter.increment()
        let cached = registry.snapshot(format: .prometheusText, gzip: true)
        #expect(cached.body == first.body)
        #expect(!text(registry.snapshot(format: .prometheusText, gzip: false).body).contains("sluice_events_total 1.0"))

        try await Task.sleep(for: .milliseconds(400))
        let fresh = registry.snapshot(format: .prometheusText, gzip: true)
        #expect(fresh.body != first.body)
        #expect(text(try Gzip.decompress(fresh.body, maximumSize: 1 << 20)).contains("sluice_events_total 1.0\n"))
    }

    @Test func zeroMaximumAgeAlwaysRenders() {
        let registry = MetricsRegistry(configuration: .init(snapshotMaximumAge: .zero))
        let counter = registry.counter(name: "sluice_events_total", help: "Events.").labels()
        _ = registry.snapshot(format: .openMetrics, gzip: false)
        counter.increment()
        #expect(text(registry.snapshot(format: .openMetrics, gzip: false).body).contains("sluice_events_total 1.0\n"))
    }

    @Test func burstOfScrapersSharesOneRender() async {
        let registry = MetricsRegistry(configuration: .init(snapshotMaximumAge: .seconds(60)))
        let calls = Calls()
        registry.addCollector { calls.count.add(1, ordering: .relaxed) }
        let bodies = await withTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<64 {
                group.addTask { registry.snapshot(format: .prometheusText, gzip: true).body }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(calls.count.load(ordering: .relaxed) == 1)
        #expect(Set(bodies).count == 1)
        // Each format has its own snapshot.
        _ = registry.snapshot(format: .openMetrics, gzip: false)
        #expect(calls.count.load(ordering: .relaxed) == 2)
    }
}
