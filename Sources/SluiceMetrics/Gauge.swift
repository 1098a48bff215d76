import Synchronization

/// A value that can go up and down, one label combination of a ``GaugeFamily``.
public final class Gauge: LabeledChild, Sendable {
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

    /// Replaces the value.
    public func set(_ value: Double) {
        bits.store(value.bitPattern, ordering: .relaxed)
    }

    /// Adds `amount`. Lock-free.
    public func increment(by amount: Double = 1) {
        bits.addDouble(amount)
    }

    /// Subtracts `amount`. Lock-free.
    public func decrement(by amount: Double = 1) {
        bits.addDouble(-amount)
    }
}

/// A gauge metric with a fixed set of label names.
public final class GaugeFamily: MetricFamily, Sendable {
    /// The metric name.
    public let name: String
    /// The help text.
    public let help: String
    /// The label names, in the order `labels(_:)` expects values.
    public let labelNames: [String]
    private let children: ChildTable<Gauge>
    private let nameBytes: [UInt8]

    init(name: String, help: String, labelNames: [String]) {
        MetricNames.validate(name: name, labelNames: labelNames)
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.children = ChildTable(metricName: name, labelNames: labelNames, make: Gauge.init)
        self.nameBytes = Array(name.utf8)
    }

    /// The gauge for these label values (in ``labelNames`` order), created on first use.
    public func labels(_ values: String...) -> Gauge { children.child(values) }

    /// The gauge for these label values (in ``labelNames`` order), created on first use.
    public func labels(_ values: [String]) -> Gauge { children.child(values) }

    /// Stops exporting the gauge for these label values, e.g. for a deleted tenant.
    public func remove(_ values: String...) { children.remove(values) }

    /// Stops exporting the gauge for these label values, e.g. for a deleted tenant.
    public func remove(_ values: [String]) { children.remove(values) }

    func removeSeries(whereLabel name: String, isIn values: Set<String>) {
        children.removeAll(whereLabel: name, isIn: values)
    }

    func values(ofLabel name: String) -> Set<String> { children.values(ofLabel: name) }

    var exposedNames: [String] { [name] }

    func render(into writer: inout ExpositionWriter) {
        writer.appendMetadata(name: nameBytes, help: help, type: "gauge")
        for gauge in children.sortedChildren() {
            writer.beginSample(name: nameBytes, labels: gauge.labelText)
            writer.appendValue(gauge.value)
        }
    }
}
