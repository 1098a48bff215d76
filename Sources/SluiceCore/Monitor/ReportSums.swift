/// The reports' sums per tenant, kind and window at one evaluation time: what rules read.
public struct ReportSums: Sendable {
    /// Tenant → kind → window length in seconds → sums.
    var byTenant: [String: [IngestionReport.Kind: [Int: ReportAggregate]]] = [:]

    /// The sums of `tenant`'s reports of `kind` (both kinds when nil) over the last `seconds`.
    public func sums(tenant: String, kind: IngestionReport.Kind?, window seconds: Int) -> ReportAggregate {
        var total = ReportAggregate()
        for (reportKind, windows) in byTenant[tenant] ?? [:] where kind == nil || kind == reportKind {
            if let sums = windows[seconds] { total += sums }
        }
        return total
    }

    /// Adds `sums` to every window at least as long as `band`'s end (the windows nest).
    mutating func add(_ sums: ReportAggregate, tenant: String, kind: IngestionReport.Kind, toWindows windows: ArraySlice<Int>) {
        for window in windows { byTenant[tenant, default: [:]][kind, default: [:]][window, default: ReportAggregate()] += sums }
    }
}
