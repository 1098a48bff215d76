import Synchronization

/// A set of metric families rendered together in the Prometheus or OpenMetrics text format.
///
/// Registration takes a registry lock; updating a metric never does. Each family has its own
/// lock for finding a child by label values, and each value is an atomic.
public final class MetricsRegistry: Sendable {
    /// Registry settings.
    public struct Configuration: Sendable {
        /// How long a rendered snapshot (and its gzip) is reused by ``snapshot(format:gzip:)``;
        /// `.zero` renders every time.
        public var snapshotMaximumAge: Duration
        /// zlib level used to compress snapshots.
        public var gzipLevel: Int32

        public init(snapshotMaximumAge: Duration = .seconds(1), gzipLevel: Int32 = 6) {
            self.snapshotMaximumAge = snapshotMaximumAge
            self.gzipLevel = gzipLevel
        }
    }

    private struct Families {
        var byName: [String: any MetricFamily] = [:]
        /// Exposed names (see `MetricFamily.exposedNames`) mapped to the family using them.
        var claimedNames: [String: String] = [:]
    }

    private let families = Mutex(Families())
    private let collectors = Mutex<[@Sendable () -> Void]>([])
    /// Size of the previous render, used to reserve the next buffer in one allocation.
    private let lastRenderSize = Atomic<Int>(0)
    private let snapshots: SnapshotCache

    public init(configuration: Configuration = .init()) {
        self.snapshots = SnapshotCache(maximumAge: configuration.snapshotMaximumAge,
                                       gzipLevel: configuration.gzipLevel)
    }

    /// Registers (or returns the already registered) counter family. `name` must end in `_total`.
    ///
    /// Re-registering a name with another type or other label names, or a name clashing with the
    /// samples of another family (e.g. a gauge `x_count` next to a histogram `x`), traps.
    public func counter(name: String, help: String, labelNames: [String] = []) -> CounterFamily {
        register(name) {
            CounterFamily(name: name, help: help, labelNames: labelNames)
        } matches: { $0.labelNames == labelNames }
    }

    /// Registers (or returns the already registered) gauge family.
    public func gauge(name: String, help: String, labelNames: [String] = []) -> GaugeFamily {
        register(name) {
            GaugeFamily(name: name, help: help, labelNames: labelNames)
        } matches: { $0.labelNames == labelNames }
    }

    /// Registers (or returns the already registered) histogram family.
    public func histogram(
        name: String, help: String, labelNames: [String] = [], buckets: [Double] = Buckets.defaults
    ) -> HistogramFamily {
        register(name) {
            HistogramFamily(name: name, help: help, labelNames: labelNames, buckets: buckets)
        } matches: { $0.labelNames == labelNames && $0.buckets == buckets.filter { $0 != .infinity } }
    }

    /// Adds a callback run right before every render, e.g. to copy external statistics into gauges.
    ///
    /// Collectors must not render or snapshot this registry.
    public func addCollector(_ collect: @escaping @Sendable () -> Void) {
        collectors.withLock { $0.append(collect) }
    }

    /// The values label `name` has across every family's series (e.g. every tenant with a series).
    public func values(ofLabel name: String) -> Set<String> {
        families.withLock { Array($0.byName.values) }.reduce(into: Set<String>()) { $0.formUnion($1.values(ofLabel: name)) }
    }

    /// Drops, in every family with a label `name`, the series whose value is in `values`: e.g. every series
    /// of tenants that no longer exist.
    public func removeSeries(whereLabel name: String, isIn values: Set<String>) {
        for family in families.withLock({ Array($0.byName.values) }) {
            family.removeSeries(whereLabel: name, isIn: values)
        }
    }

    /// Runs the collectors, then renders every family sorted by name, children sorted by label values.
    public func render(format: ExpositionFormat) -> [UInt8] {
        for collect in collectors.withLock({ $0 }) {
            collect()
        }
        let sortedFamilies = families.withLock { Array($0.byName.values) }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        var writer = ExpositionWriter(format: format,
                                      reservingCapacity: lastRenderSize.load(ordering: .relaxed) + 4096)
        for family in sortedFamilies {
            family.render(into: &writer)
        }
        if format == .openMetrics {
            writer.append("# EOF\n")
        }
        lastRenderSize.store(writer.bytes.count, ordering: .relaxed)
        return writer.bytes
    }

    /// A rendered body, reused (with its gzip) by all callers for up to
    /// ``Configuration/snapshotMaximumAge``. Concurrent callers share a single render and compression.
    public func snapshot(format: ExpositionFormat, gzip: Bool) -> MetricsSnapshot {
        snapshots.snapshot(format: format, gzip: gzip) { render(format: format) }
    }

    private func register<Family: MetricFamily>(
        _ name: String, make: () -> Family, matches: (Family) -> Bool
    ) -> Family {
        families.withLock { families in
            if let existing = families.byName[name] {
                guard let family = existing as? Family, matches(family) else {
                    preconditionFailure("metric '\(name)' is already registered with another type, labels or buckets")
                }
                return family
            }
            let family = make()
            for exposed in family.exposedNames {
                if let owner = families.claimedNames[exposed] {
                    preconditionFailure("metric '\(name)' clashes with '\(owner)' on the name '\(exposed)'")
                }
            }
            for exposed in family.exposedNames {
                families.claimedNames[exposed] = name
            }
            families.byName[name] = family
            return family
        }
    }
}
