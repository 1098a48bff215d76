import SluiceCompression
import Synchronization

/// A rendered metrics body ready to send.
public struct MetricsSnapshot: Sendable {
    /// The body: exposition text, gzip-compressed when ``isGzipped``.
    public let body: [UInt8]
    /// The format of the text.
    public let format: ExpositionFormat
    /// Whether ``body`` is gzip-compressed (send `Content-Encoding: gzip`).
    public let isGzipped: Bool

    /// The HTTP `Content-Type` for ``body``.
    public var contentType: String { format.contentType }
}

/// Caches one rendered body per format, plus its gzip, for a short time.
///
/// Rendering and compressing happen outside the lock. When the cached body is older than `maximumAge`,
/// one caller renders the next while every concurrent caller is served the previous body at once: a
/// burst of scrapers never queues behind a render, and never starts a second one. Only the very first
/// render is waited for (there is nothing to serve before it), and shared.
final class SnapshotCache: Sendable {
    private struct Entry {
        let renderedAt: ContinuousClock.Instant
        let plain: [UInt8]
        var gzipped: [UInt8]?
    }

    private struct Slot {
        var entry: Entry?
        var rendering = false
    }

    private let maximumAge: Duration
    private let gzipLevel: Int32
    private let prometheusText = Mutex(Slot())
    private let openMetrics = Mutex(Slot())
    /// Held while rendering, so callers with nothing to serve wait for the render in flight.
    private let prometheusTextRender = Mutex(())
    private let openMetricsRender = Mutex(())

    init(maximumAge: Duration, gzipLevel: Int32) {
        self.maximumAge = maximumAge
        self.gzipLevel = gzipLevel
    }

    func snapshot(format: ExpositionFormat, gzip: Bool, render: () -> [UInt8]) -> MetricsSnapshot {
        switch format {
        case .prometheusText:
            snapshot(from: prometheusText, renderLock: prometheusTextRender, format: format, gzip: gzip, render: render)
        case .openMetrics:
            snapshot(from: openMetrics, renderLock: openMetricsRender, format: format, gzip: gzip, render: render)
        }
    }

    private func snapshot(
        from cache: borrowing Mutex<Slot>, renderLock: borrowing Mutex<Void>, format: ExpositionFormat, gzip: Bool,
        render: () -> [UInt8]
    ) -> MetricsSnapshot {
        guard maximumAge > .zero else { return Self.snapshot(of: render(), format: format, gzip: gzip, level: gzipLevel) }
        let now = ContinuousClock.now
        let (cached, mustRender) = cache.withLock { slot -> (Entry?, Bool) in
            if let entry = slot.entry, now - entry.renderedAt < maximumAge || slot.rendering { return (entry, false) }
            slot.rendering = true
            return (nil, true)
        }
        var entry = cached ?? renderLock.withLock { _ in
            // Another caller may have rendered while this one waited for the lock (the first render).
            if let fresh = cache.withLock({ $0.entry }), ContinuousClock.now - fresh.renderedAt < maximumAge { return fresh }
            let rendered = Entry(renderedAt: .now, plain: render(), gzipped: nil)
            // Published before the lock is released, so a caller waiting for it takes it instead of rendering again.
            cache.withLock { slot in
                if slot.entry.map({ $0.renderedAt < rendered.renderedAt }) ?? true { slot.entry = rendered }
            }
            return rendered
        }
        if gzip, entry.gzipped == nil {
            // Compression fails only when zlib cannot allocate; then the plain body is served.
            entry.gzipped = try? Gzip.compress(entry.plain, level: gzipLevel)
        }
        let finished = entry
        cache.withLock { slot in
            if mustRender { slot.rendering = false }
            // Keep the newest body, with its gzip once one is made.
            guard let stored = slot.entry else {
                slot.entry = finished
                return
            }
            if stored.renderedAt < finished.renderedAt || (stored.renderedAt == finished.renderedAt && stored.gzipped == nil) {
                slot.entry = finished
            }
        }
        guard gzip, let gzipped = entry.gzipped else {
            return MetricsSnapshot(body: entry.plain, format: format, isGzipped: false)
        }
        return MetricsSnapshot(body: gzipped, format: format, isGzipped: true)
    }

    /// A fresh body, compressed if asked (with `maximumAge` zero nothing is cached).
    private static func snapshot(of plain: [UInt8], format: ExpositionFormat, gzip: Bool, level: Int32) -> MetricsSnapshot {
        guard gzip, let gzipped = try? Gzip.compress(plain, level: level) else {
            return MetricsSnapshot(body: plain, format: format, isGzipped: false)
        }
        return MetricsSnapshot(body: gzipped, format: format, isGzipped: true)
    }
}
