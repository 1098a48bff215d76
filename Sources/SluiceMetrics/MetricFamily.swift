import Synchronization

/// A rendered family in a registry.
protocol MetricFamily: AnyObject, Sendable {
    var name: String { get }
    /// Every name this family puts in an exposition (sample names and the OpenMetrics family name);
    /// two families of a registry must not share any.
    var exposedNames: [String] { get }
    func render(into writer: inout ExpositionWriter)
    /// Drops the series whose value of label `name` is in `values`.
    func removeSeries(whereLabel name: String, isIn values: Set<String>)
    /// The values label `name` has in the family's series.
    func values(ofLabel name: String) -> Set<String>
}

extension Atomic where Value == UInt64 {
    /// Treats the stored bits as a `Double` and adds `amount` with a compare-and-swap loop.
    func addDouble(_ amount: Double) {
        var current = load(ordering: .relaxed)
        while true {
            let updated = (Double(bitPattern: current) + amount).bitPattern
            let (exchanged, original) = compareExchange(expected: current, desired: updated, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
