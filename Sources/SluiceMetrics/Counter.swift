import Synchronization

/// A monotonically increasing value, one label combination of a ``CounterFamily``.
public final class Counter: LabeledChild, Sendable {
    /// The label values, in the order of the family's label names.
    public let labelValues: [String]
    let labelText: [UInt8]
    private let bits = Atomic<UInt64>(0)

    init(labelValues: [String], labelText: [UInt8]) {
        self.labelValues = labelValues
        self.labelText = labelText
    }

    /// The current value.
    public var value: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }

    /// Adds `amount`, which must not be negative. Lock-free.
    public func increment(by amount: Double = 1) {
        precondition(amount >= 0, "counters can only increase, got increment by \(amount)")
        bits.addDouble(amount)
    }

    /// Replaces the value with a total maintained elsewhere (the OS, a connection pool).
    ///
    /// Use this only to mirror an external monotonic total from a collector; instrumented code
    /// calls ``increment(by:)``.
    public func set(toTotal total: Double) {
        precondition(total >= 0, "counter totals cannot be negative, got \(total)")
        bits.store(total.bitPattern, ordering: .relaxed)
    }
}

/// A counter metric with a fixed set of label names; its name ends in `_total`.
public final class CounterFamily: MetricFamily, Sendable {
    /// The metric name.
    public let name: String
    /// The help text.
    public let help: String
    /// The label names, in the order `labels(_:)` expects values.
    public let labelNames: [String]
    private let children: ChildTable<Counter>
    private let nameBytes: [UInt8]
    /// The OpenMetrics family name, without `_total`.
    private let openMetricsNameBytes: [UInt8]

    init(name: String, help: String, labelNames: [String]) {
        MetricNames.validate(name: name, labelNames: labelNames)
        precondition(name.hasSuffix("_total") && name != "_total", "counter name '\(name)' must end in _total")
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.children = ChildTable(metricName: name, labelNames: labelNames, make: Counter.init)
        self.nameBytes = Array(name.utf8)
        self.openMetricsNameBytes = Array(name.utf8.dropLast("_total".utf8.count))
    }

    /// The counter for these label values (in ``labelNames`` order), created on first use.
    public func labels(_ values: String...) -> Counter { children.child(values) }

    /// The counter for these label values (in ``labelNames`` order), created on first use.
    public func labels(_ values: [String]) -> Counter { children.child(values) }

    /// Stops exporting the counter for these label values.
    public func remove(_ values: String...) { children.remove(values) }

    /// Stops exporting the counter for these label values.
    public func remove(_ values: [String]) { children.remove(values) }

    func removeSeries(whereLabel name: String, isIn values: Set<String>) {
        children.removeAll(whereLabel: name, isIn: values)
    }

    func values(ofLabel name: String) -> Set<String> { children.values(ofLabel: name) }

    var exposedNames: [String] { [name, String(name.dropLast("_total".count))] }

    func render(into writer: inout ExpositionWriter) {
        writer.appendMetadata(name: writer.format == .openMetrics ? openMetricsNameBytes : nameBytes,
                              help: help, type: "counter")
        for counter in children.sortedChildren() {
            writer.beginSample(name: nameBytes, labels: counter.labelText)
            writer.appendValue(counter.value)
        }
    }
}
