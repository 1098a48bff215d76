import Foundation

/// One rule of `CONFIG_DIR/rules/*.yaml`: a threshold on a series, or a service-level objective expanded
/// into multiwindow, multi-burn-rate alerts.
public struct MonitorRule: Sendable, Equatable {
    /// How a series is compared with a threshold.
    public enum Comparison: String, Sendable, CaseIterable {
        case greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=", equal = "==", notEqual = "!="

        func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .greater: value > threshold
            case .greaterOrEqual: value >= threshold
            case .less: value < threshold
            case .lessOrEqual: value <= threshold
            case .equal: value == threshold
            case .notEqual: value != threshold
            }
        }
    }

    /// What a rule does for a tenant without data in its window (no ingestion at all).
    public enum NoData: String, Sendable, CaseIterable {
        /// The condition does not hold: the alert resolves.
        case ok
        /// The condition holds.
        case alerting
        /// Nothing changes: a firing alert keeps firing, an inactive one stays inactive.
        case keepState = "keep_state"
    }

    /// The tenants a rule watches.
    public enum Scope: Sendable, Equatable {
        /// Every tenant.
        case everyTenant
        /// These tenants (those that exist).
        case tenants([String])
        /// The tenants whose metadata has every one of these values.
        case metadata([String: String])

        func includes(_ tenant: String, metadata: [String: String]) -> Bool {
            switch self {
            case .everyTenant: true
            case .tenants(let ids): ids.contains(tenant)
            case .metadata(let selector): selector.allSatisfy { metadata[$0.key] == $0.value }
            }
        }
    }

    /// A threshold on a series.
    public struct Threshold: Sendable, Equatable {
        public var series: Series
        public var kind: IngestionReport.Kind?
        /// Seconds, a whole number of minutes.
        public var window: Int
        public var comparison: Comparison
        public var threshold: Double
        public var noData: NoData
    }

    /// A service-level objective: the share of good events over a period.
    public struct Objective: Sendable, Equatable {
        /// What a good event is.
        public enum Indicator: Sendable, Equatable {
            /// An ingestion that succeeded (a file not failed, a stream message committed).
            case availability
            /// An ingestion committed within this many seconds of arrival (a ``LatencyBuckets`` bound).
            case latency(Double)
        }

        /// Fires when the burn rate over both windows exceeds `factor` (the SRE workbook's pairs).
        public struct BurnWindow: Sendable, Equatable {
            public var long: Int
            public var short: Int
            public var factor: Double
            public var severity: String
        }

        public var indicator: Indicator
        public var kind: IngestionReport.Kind?
        /// 0 < objective < 1.
        public var objective: Double
        /// Seconds over which the error budget is counted.
        public var period: Int
        public var burnWindows: [BurnWindow]
        /// Events the long window must hold before it may fire: a quiet tenant does not page on one failure.
        public var minimumEvents: Int

        /// The SRE workbook's (and Sloth's and Pyrra's) pairs: 1h/5m at 14.4× and 6h/30m at 6× page, 1d/2h at
        /// 3× and 3d/6h at 1× ticket for a 30-day period, each spending 2 %, 5 %, 10 % and 10 % of the budget;
        /// for another period the factors keep those shares.
        public static func standardBurnWindows(period: Int) -> [BurnWindow] {
            func factor(_ share: Double, _ long: Int) -> Double { (share * Double(period) / Double(long) * 1000).rounded() / 1000 }
            return [
                BurnWindow(long: 3600, short: 300, factor: factor(0.02, 3600), severity: "page"),
                BurnWindow(long: 21_600, short: 1800, factor: factor(0.05, 21_600), severity: "page"),
                BurnWindow(long: 86_400, short: 7200, factor: factor(0.1, 86_400), severity: "ticket"),
                BurnWindow(long: 259_200, short: 21_600, factor: factor(0.1, 259_200), severity: "ticket"),
            ]
        }

        /// The severities its alerts carry, in order.
        var severities: [String] {
            burnWindows.reduce(into: []) { if !$0.contains($1.severity) { $0.append($1.severity) } }
        }
    }

    public enum Condition: Sendable, Equatable {
        case threshold(Threshold)
        case objective(Objective)
    }

    public var name: String
    /// The file it came from.
    public var file: String
    public var condition: Condition
    public var scope: Scope
    /// Seconds the condition must hold before the alert fires, and it keeps firing after it stops holding.
    public var pendingFor: Int
    public var keepFiringFor: Int
    public var labels: [String: String]
    /// Templates: `{{ .tenant }}`, `{{ .value }}`, `{{ .threshold }}`, `{{ .name }}`, `{{ .labels.x }}`.
    public var annotations: [String: String]
    /// Stream manager actions when an alert of this rule fires and when it resolves.
    public var firingActions: [StreamAction]
    public var resolvedActions: [StreamAction]

    /// The windows (seconds) its evaluation reads.
    public var windows: Set<Int> {
        switch condition {
        case .threshold(let threshold): [threshold.window]
        case .objective(let objective): Set(objective.burnWindows.flatMap { [$0.long, $0.short] } + [objective.period])
        }
    }
}
