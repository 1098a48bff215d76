/// The reports' sums per tenant, kind and window at one evaluation time: what rules read.
public struct ReportSums: Sendable {
    /// Tenant → kind (nil: both) → window length in seconds → sums.
    private var byTenant: [String: [IngestionReport.Kind?: [Int: ReportAggregate]]] = [:]
    private static let none = ReportAggregate()

    /// The sums of `tenant`'s reports of `kind` (both kinds when nil) over the last `seconds`.
    public func sums(tenant: String, kind: IngestionReport.Kind?, window seconds: Int) -> ReportAggregate {
        byTenant[tenant]?[kind]?[seconds] ?? Self.none
    }

    /// Adds `sums` of `kind` to each of `windows` (the windows nest), and to both kinds' sums.
    mutating func add(_ sums: ReportAggregate, tenant: String, kind: IngestionReport.Kind, toWindows windows: ArraySlice<Int>) {
        for window in windows {
            for key in [kind, nil] as [IngestionReport.Kind?] {
                byTenant[tenant, default: [:]][key, default: [:]][window, default: Self.none] += sums
            }
        }
    }
}
