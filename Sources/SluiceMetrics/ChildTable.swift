import Synchronization

/// A child metric of a family: one label-value combination.
protocol LabeledChild: AnyObject, Sendable {
    var labelValues: [String] { get }
}

/// The children of one family, keyed by label values; O(1) lookup and insertion.
///
/// Each family has its own lock, held only for the dictionary access, never while a value changes.
final class ChildTable<Child: LabeledChild>: Sendable {
    let metricName: String
    let labelNames: [String]
    private let make: @Sendable (_ labelValues: [String], _ labelText: [UInt8]) -> Child
    private let children: Mutex<Table>

    /// The children by label values, plus their sorted order, kept until the set changes.
    private struct Table {
        var byValues: [[String]: Child]
        var sorted: [Child]?
        /// Bumped on every change of the child set.
        var generation = 0
    }

    /// A family without labels gets its single child right away, so it is exported as 0 from the start.
    init(metricName: String, labelNames: [String], make: @escaping @Sendable ([String], [UInt8]) -> Child) {
        self.metricName = metricName
        self.labelNames = labelNames
        self.make = make
        self.children = Mutex(Table(byValues: labelNames.isEmpty ? [[]: make([], [])] : [:], sorted: nil))
    }

    func child(_ values: [String]) -> Child {
        precondition(values.count == labelNames.count,
                     "metric '\(metricName)' expects \(labelNames.count) label values \(labelNames), got \(values.count)")
        return children.withLock { table in
            if let child = table.byValues[values] { return child }
            let child = make(values, ExpositionWriter.labelText(names: labelNames, values: values))
            table.byValues[values] = child
            table.sorted = nil
            table.generation += 1
            return child
        }
    }

    func remove(_ values: [String]) {
        children.withLock { table in
            if table.byValues.removeValue(forKey: values) != nil {
                table.sorted = nil
                table.generation += 1
            }
        }
    }

    /// Removes every child whose value of label `name` is in `values` (nothing if the family has no such label).
    func removeAll(whereLabel name: String, isIn values: Set<String>) {
        guard let position = labelNames.firstIndex(of: name), !values.isEmpty else { return }
        children.withLock { table in
            let before = table.byValues.count
            table.byValues = table.byValues.filter { !values.contains($0.key[position]) }
            if table.byValues.count != before {
                table.sorted = nil
                table.generation += 1
            }
        }
    }

    /// The values label `name` has among the children (none if the family has no such label).
    func values(ofLabel name: String) -> Set<String> {
        guard let position = labelNames.firstIndex(of: name) else { return [] }
        return children.withLock { Set($0.byValues.keys.map { $0[position] }) }
    }

    /// The children ordered by label values (byte-wise, value by value). The order is computed once
    /// per change of the child set, not per render.
    func sortedChildren() -> [Child] {
        if let sorted = children.withLock({ $0.sorted }) { return sorted }
        let (unsorted, generation) = children.withLock { (Array($0.byValues.values), $0.generation) }
        let sorted = unsorted.sorted { lhs, rhs in
            for (left, right) in zip(lhs.labelValues, rhs.labelValues) where left != right {
                return left.utf8.lexicographicallyPrecedes(right.utf8)
            }
            return false
        }
        children.withLock { table in
            // Keep the result only if no child was added or removed meanwhile.
            if table.generation == generation { table.sorted = sorted }
        }
        return sorted
    }
}
