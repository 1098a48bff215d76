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
/// The per-format lock is held while rendering and compressing: a burst of scrapers waits for the
/// single render in flight instead of repeating it.
final class SnapshotCache: Sendable {
    private struct Entry {
        let renderedAt: ContinuousClock.Instant
        let plain: [UInt8]
        var gzipped: [UInt8]?
    }

    private let maximumAge: Duration
    private let gzipLevel: Int32
    private let prometheusText = Mutex<Entry?>(nil)
    private let openMetrics = Mutex<Entry?>(nil)

    init(maximumAge: Duration, gzipLevel: Int32) {
        self.maximumAge = maximumAge
        self.gzipLevel = gzipLevel
    }

    func snapshot(format: ExpositionFormat, gzip: Bool, render: () -> [UInt8]) -> MetricsSnapshot {
        switch format {
        case .prometheusText: snapshot(from: prometheusText, format: format, gzip: gzip, render: render)
        case .openMetrics: snapshot(from: openMetrics, format: format, gzip: gzip, render: render)
        }
    }

    private func snapshot(
        from cache: borrowing Mutex<Entry?>, format: ExpositionFormat, gzip: Bool, render: () -> [UInt8]
    ) -> MetricsSnapshot {
        cache.withLock { entry in
            let now = ContinuousClock.now
            var current: Entry
            if let cached = entry, maximumAge > .zero, now - cached.renderedAt < maximumAge {
                current = cached
            } else {
                current = Entry(renderedAt: now, plain: render(), gzipped: nil)
            }
            defer { entry = current }
            guard gzip else {
                return MetricsSnapshot(body: current.plain, format: format, isGzipped: false)
            }
            if current.gzipped == nil {
                // Compression fails only when zlib cannot allocate; then the plain body is served.
                current.gzipped = try? Gzip.compress(current.plain, level: gzipLevel)
            }
            guard let gzipped = current.gzipped else {
                return MetricsSnapshot(body: current.plain, format: format, isGzipped: false)
            }
            return MetricsSnapshot(body: gzipped, format: format, isGzipped: true)
        }
    }
}
