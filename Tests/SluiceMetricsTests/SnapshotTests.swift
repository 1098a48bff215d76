import Foundation
import SluiceCompression
import SluiceMetrics
import SluiceTestSupport
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

extension SnapshotTests {
    /// A scrape while the next snapshot renders gets the previous one at once: scrapes used to queue behind
    /// the render (and its gzip) under the cache's lock.
    @Test func scrapesDuringARenderGetThePreviousSnapshotAtOnce() async throws {
        let registry = MetricsRegistry(configuration: .init(snapshotMaximumAge: .milliseconds(50)))
        let counter = registry.counter(name: "sluice_events_total", help: "Events.").labels()
        let gate = Gate()
        registry.addCollector { gate.passIfArmed() }
        let first = registry.snapshot(format: .prometheusText, gzip: true)
        counter.increment()
        try await Task.sleep(for: .milliseconds(100))
        gate.arm()
        let blockedRender = Thread { _ = registry.snapshot(format: .prometheusText, gzip: true) }
        blockedRender.start()
        try await waitUntil("the render is held in its collector") { gate.isHeld }
        // The render is stuck in its collector; scrapes are still served, with the previous body.
        let started = ContinuousClock.now
        for _ in 0..<10 { #expect(registry.snapshot(format: .prometheusText, gzip: true).body == first.body) }
        #expect(started.duration(to: .now) < .seconds(5))
        gate.release()
        try await waitUntil("the next snapshot is served") {
            text(try Gzip.decompress(registry.snapshot(format: .prometheusText, gzip: true).body, maximumSize: 1 << 20))
                .contains("sluice_events_total 1.0\n")
        }
    }

    /// Blocks the collector once armed, until released.
    final class Gate: Sendable {
        private let state = Mutex((armed: false, held: false, released: false))
        func arm() { state.withLock { $0.armed = true } }
        var isHeld: Bool { state.withLock { $0.held } }
        func release() { state.withLock { $0.released = true } }
        func passIfArmed() {
            guard state.withLock({ state in
                guard state.armed, !state.held else { return false }
                state.held = true
                return true
            }) else { return }
            while !state.withLock({ $0.released }) { usleep(1000) }
        }
    }
}
