import Foundation

/// What one rule found for one label set at one evaluation. Its labels, fingerprint and annotations are
/// built only for findings that matter (most neither hold nor have an alert).
struct RuleFinding: Sendable {
    var rule: MonitorRule
    var tenant: String?
    /// Labels the rule adds for this label set (an objective's `severity` and `slo`).
    var extraLabels: [String: String]
    /// Whether the condition holds; nil to keep the alert's state (no data under `keep_state`).
    var holds: Bool?
    var value: Double?
    var threshold: Double?

    var labels: [String: String] {
        var labels = rule.labels.merging(extraLabels) { $1 }
        labels["alertname"] = rule.name
        if let tenant { labels["tenant"] = tenant }
        return labels
    }

    func key(_ labels: [String: String]) -> AlertKey {
        AlertKey(rule: rule.name, fingerprint: AlertNotification.fingerprint(labels))
    }

    func annotations(_ labels: [String: String]) -> [String: String] {
        rule.annotations.mapValues {
            AnnotationTemplate.render($0, tenant: tenant, value: value, threshold: threshold, name: rule.name, labels: labels)
        }
    }
}

/// An objective's state for one tenant: error budget left over its period and burn rate per window.
public struct ObjectiveStatus: Sendable, Equatable {
    public var rule: String
    public var tenant: String
    /// 1 with nothing spent, 0 when spent, negative when overspent.
    public var budgetRemaining: Double
    /// Window (seconds) → burn rate (1 spends the budget exactly over the period).
    public var burnRates: [Int: Double]
}

/// Evaluates rules over the sums read for one time: pure, so any time and data can be fed to it.
struct RuleEvaluator: Sendable {
    let rules: [MonitorRule]
    /// Tenant id → metadata, for every tenant.
    let tenants: [String: [String: String]]
    let sums: ReportSums
    let probes: [Int: ProbeCounts]
    let backlog: [String: BacklogSample]

    /// Every rule's findings, and every objective's status per tenant.
    func evaluate() -> (findings: [RuleFinding], objectives: [ObjectiveStatus]) {
        let sortedTenants = tenants.keys.sorted()
        var findings: [RuleFinding] = []
        var objectives: [ObjectiveStatus] = []
        for rule in rules {
            switch rule.condition {
            case .threshold(let threshold) where !threshold.series.isPerTenant:
                let value = probes[threshold.window]?.availability
                findings.append(finding(rule, tenant: nil, value: value, threshold: threshold))
            case .threshold(let threshold):
                for tenant in tenantsInScope(rule, sortedTenants) {
                    let windowSums = sums.sums(tenant: tenant, kind: threshold.kind, window: threshold.window)
                    let value = threshold.series.source == .backlog
                        ? threshold.series.value(backlog[tenant] ?? BacklogSample(files: 0), windowSums)
                        : threshold.series.value(windowSums, seconds: Double(threshold.window))
                    findings.append(finding(rule, tenant: tenant, value: value, threshold: threshold))
                }
            case .objective(let objective):
                for tenant in tenantsInScope(rule, sortedTenants) {
                    let (status, tenantFindings) = evaluate(objective, of: rule, tenant: tenant)
                    objectives.append(status)
                    findings += tenantFindings
                }
            }
        }
        return (findings, objectives)
    }

    private func tenantsInScope(_ rule: MonitorRule, _ sorted: [String]) -> [String] {
        if case .everyTenant = rule.scope { return sorted }
        return sorted.filter { rule.scope.includes($0, metadata: tenants[$0] ?? [:]) }
    }

    private func finding(_ rule: MonitorRule, tenant: String?, value: Double?, threshold: MonitorRule.Threshold) -> RuleFinding {
        let holds: Bool? = switch (value, threshold.noData) {
        case (let value?, _): threshold.comparison.holds(value, threshold.threshold)
        case (nil, .ok): false
        case (nil, .alerting): true
        case (nil, .keepState): nil
        }
        return makeFinding(rule, tenant: tenant, extraLabels: [:], holds: holds, value: value, threshold: threshold.threshold)
    }

    /// Good and total events of `tenant` over `window` for the objective's indicator.
    private func events(_ objective: MonitorRule.Objective, tenant: String, window: Int) -> (good: Int64, total: Int64) {
        let windowSums = sums.sums(tenant: tenant, kind: objective.kind, window: window)
        switch objective.indicator {
        case .availability:
            return (windowSums.eventsGood, windowSums.eventsTotal)
        case .latency(let bound):
            let index = LatencyBuckets.bounds.firstIndex(of: bound) ?? LatencyBuckets.bounds.count - 1
            return (windowSums.latencyAtMost[index], windowSums.latencyCount)
        }
    }

    /// The burn rate over `window`: the share of bad events over the share the objective allows; 0 without events.
    private func burnRate(_ objective: MonitorRule.Objective, tenant: String, window: Int) -> (rate: Double, events: Int64) {
        let (good, total) = events(objective, tenant: tenant, window: window)
        guard total > 0 else { return (0, 0) }
        return (Double(total - good) / Double(total) / (1 - objective.objective), total)
    }

    private func evaluate(_ objective: MonitorRule.Objective, of rule: MonitorRule, tenant: String) -> (ObjectiveStatus, [RuleFinding]) {
        var rates: [Int: Double] = [:]
        for window in Set(objective.burnWindows.flatMap { [$0.long, $0.short] }) {
            rates[window] = burnRate(objective, tenant: tenant, window: window).rate
        }
        let budgetRemaining = 1 - burnRate(objective, tenant: tenant, window: objective.period).rate
        var findings: [RuleFinding] = []
        for severity in objective.severities {
            var burning: Double?
            var worst = 0.0
            for pair in objective.burnWindows where pair.severity == severity {
                let long = burnRate(objective, tenant: tenant, window: pair.long)
                let short = burnRate(objective, tenant: tenant, window: pair.short)
                worst = max(worst, long.rate)
                if long.events >= Int64(objective.minimumEvents), long.rate > pair.factor, short.rate > pair.factor {
                    burning = max(burning ?? 0, long.rate)
                }
            }
            let factor = objective.burnWindows.filter { $0.severity == severity }.map(\.factor).min()
            findings.append(makeFinding(rule, tenant: tenant, extraLabels: ["severity": severity, "slo": rule.name],
                                        holds: burning != nil, value: burning ?? worst, threshold: factor))
        }
        return (ObjectiveStatus(rule: rule.name, tenant: tenant, budgetRemaining: budgetRemaining, burnRates: rates), findings)
    }

    private func makeFinding(_ rule: MonitorRule, tenant: String?, extraLabels: [String: String], holds: Bool?, value: Double?,
                             threshold: Double?) -> RuleFinding {
        RuleFinding(rule: rule, tenant: tenant, extraLabels: extraLabels, holds: holds, value: value, threshold: threshold)
    }
}
