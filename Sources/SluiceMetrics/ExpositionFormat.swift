/// A text exposition format for ``MetricsRegistry/render(format:)``.
public enum ExpositionFormat: Sendable, Hashable {
    /// Prometheus text format 0.0.4.
    case prometheusText
    /// OpenMetrics 1.0 text format.
    case openMetrics

    /// The HTTP `Content-Type` of a body in this format.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// Picks OpenMetrics when the `Accept` header lists `application/openmetrics-text` with a
    /// q-value above 0 (and no version, or version 1.0.0 / 0.0.1); otherwise Prometheus text.
    public static func negotiate(acceptHeader: String?) -> ExpositionFormat {
        guard let acceptHeader else { return .prometheusText }
        for range in acceptHeader.split(separator: ",") {
            var parts = range.split(separator: ";").makeIterator()
            guard let mediaType = parts.next(),
                  mediaType.trimmed.lowercased() == "application/openmetrics-text" else { continue }
            var quality = 1.0
            var versionSupported = true
            while let parameter = parts.next() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                let value = pair[1].trimmed
                switch pair[0].trimmed.lowercased() {
                case "q": quality = Double(value) ?? 0
                case "version": versionSupported = value == "1.0.0" || value == "0.0.1"
                default: break
                }
            }
            if quality > 0 && versionSupported { return .openMetrics }
        }
        return .prometheusText
    }
}

extension Substring {
    fileprivate var trimmed: String {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return String(trimmed)
    }
}
