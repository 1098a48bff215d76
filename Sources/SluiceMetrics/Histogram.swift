import Synchronization

/// Bucket upper bounds for histograms.
public enum Buckets {
    /// The Prometheus client defaults, suited to latencies in seconds.
    public static let defaults: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// `count` bounds starting at `start`, each `factor` times the previous one.
    public static func exponential(start: Double, factor: Double, count: Int) -> [Double] {
        precondition(start > 0 && factor > 1 && count > 0,
                     "exponential buckets need start > 0, factor > 1, count > 0")
        var bounds: [Double] = []
        bounds.reserveCapacity(count)
        var bound = start
        for _ in 0..<count {
            bounds.append(bound)
            bound *= factor
        }
        return bounds
    }
}

/// Observations counted into cumulative buckets, one label combination of a ``HistogramFamily``.
///
/// Each histogram has its own small lock so `_count`, `_sum` and the buckets stay consistent.
public final class Histogram: LabeledChild, Sendable {
    struct State {
        /// Non-cumulative counts; the last entry is the `+Inf` bucket.
        var bucketCounts: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }

    /// The label values, in the order of the family's label names.
    public let labelValues: [String]
    let labelText: [UInt8]
    private let upperBounds: [Double]
    private let state: Mutex<State>

    init(labelValues: [String], labelText: [UInt8], upperBounds: [Double]) {
        self.labelValues = labelValues
        self.labelText = labelText
        self.upperBounds = upperBounds
        self.state = Mutex(State(bucketCounts: Array(repeating: 0, count: upperBounds.count + 1)))
    }

    /// Records `value` in the first bucket whose upper bound is at least `value`.
    public func observe(_ value: Double) {
        var low = 0
        var high = upperBounds.count
        while low < high {
            let middle = (low + high) / 2
            if upperBounds[middle] < value { low = middle + 1 } else { high = middle }
        }
        // A NaN never compares, so it lands in `+Inf`, as in the Go client.
        let index = value.isNaN ? upperBounds.count : low
        state.withLock { state in
            state.bucketCounts[index] += 1
            state.sum += value
            state.count += 1
        }
    }

    /// Runs `body` and observes its duration in seconds.
    public func time<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            observe(elapsed.secondsValue)
        }
        return try body()
    }

    var snapshot: State { state.withLock { $0 } }
}

/// A histogram metric with a fixed set of label names and bucket bounds.
public final class HistogramFamily: MetricFamily, Sendable {
    /// The metric name.
    public let name: String
    /// The help text.
    public let help: String
    /// The label names, in the order `labels(_:)` expects values.
    public let labelNames: [String]
    /// The finite bucket upper bounds; `+Inf` is implicit.
    public let buckets: [Double]
    private let children: ChildTable<Histogram>
    private let nameBytes: [UInt8]
    /// `le="…"` for every bucket including `+Inf`, formatted once.
    private let leLabels: [[UInt8]]

    init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        MetricNames.validate(name: name, labelNames: labelNames)
        precondition(!labelNames.contains("le"), "histogram '\(name)' cannot use the reserved label 'le'")
        let bounds = buckets.last == .infinity ? Array(buckets.dropLast()) : buckets
        precondition(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 } && bounds.allSatisfy(\.isFinite),
                     "histogram '\(name)' buckets must be finite and strictly increasing: \(buckets)")
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.buckets = bounds
        self.children = ChildTable(metricName: name, labelNames: labelNames) { values, text in
            Histogram(labelValues: values, labelText: text, upperBounds: bounds)
        }
        self.nameBytes = Array(name.utf8)
        self.leLabels = (bounds + [.infinity]).map { bound in
            var label = Array("le=\"".utf8)
            ExpositionWriter.appendFormatted(bound, to: &label)
            label.append(UInt8(ascii: "\""))
            return label
        }
    }

    /// The histogram for these label values (in ``labelNames`` order), created on first use.
    public func labels(_ values: String...) -> Histogram { children.child(values) }

    /// The histogram for these label values (in ``labelNames`` order), created on first use.
    public func labels(_ values: [String]) -> Histogram { children.child(values) }

    /// Stops exporting the histogram for these label values.
    public func remove(_ values: String...) { children.remove(values) }

    /// Stops exporting the histogram for these label values.
    public func remove(_ values: [String]) { children.remove(values) }

    func removeSeries(whereLabel name: String, isIn values: Set<String>) {
        children.removeAll(whereLabel: name, isIn: values)
    }

    func values(ofLabel name: String) -> Set<String> { children.values(ofLabel: name) }

    var exposedNames: [String] { [name, name + "_bucket", name + "_sum", name + "_count"] }

    func render(into writer: inout ExpositionWriter) {
        writer.appendMetadata(name: nameBytes, help: help, type: "histogram")
        for histogram in children.sortedChildren() {
            let state = histogram.snapshot
            var cumulative: UInt64 = 0
            for (count, le) in zip(state.bucketCounts, leLabels) {
                cumulative += count
                writer.beginSample(name: nameBytes, suffix: "_bucket", labels: histogram.labelText, extraLabel: le)
                writer.appendValue(cumulative)
            }
            writer.beginSample(name: nameBytes, suffix: "_sum", labels: histogram.labelText)
            writer.appendValue(state.sum)
            writer.beginSample(name: nameBytes, suffix: "_count", labels: histogram.labelText)
            writer.appendValue(state.count)
        }
    }
}
