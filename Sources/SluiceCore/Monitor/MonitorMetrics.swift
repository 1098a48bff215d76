import SluiceMetrics
import Synchronization

/// Prometheus metrics of the monitor: alerts in the shape of Prometheus's `ALERTS`, rule evaluation,
/// objectives' error budgets and burn rates, reloads, leadership and notifications.
public final class MonitorMetrics: Sendable {
    private let alerts: GaugeFamily
    private let evaluationDuration: HistogramFamily
    private let evaluationFailures: CounterFamily
    private let lastEvaluation: GaugeFamily
    private let budgetRemaining: GaugeFamily
    private let burnRate: GaugeFamily
    private let reloadSuccess: GaugeFamily
    private let reloadTimestamp: GaugeFamily
    private let rulesLoaded: GaugeFamily
    private let leader: GaugeFamily
    private let notifications: CounterFamily
    private let muted: CounterFamily
    /// The alerts' label sets and the objectives' gauges set at the last evaluation, so those gone are removed.
    private let publishedAlerts = Mutex<Set<[String]>>([])
    /// The rules `sluice_rule_evaluation_failures_total` has series for.
    private let failureSeries = Mutex<Set<String>>([])
    private let objectiveGauges = Mutex<[String: ObjectiveGauges]>([:])

    public init(registry: MetricsRegistry) {
        alerts = registry.gauge(name: "sluice_alerts", help: "Alerts pending or firing (1), like Prometheus's ALERTS; this process's when it evaluates.",
                                labelNames: ["alertname", "tenant", "severity", "state"])
        evaluationDuration = registry.histogram(name: "sluice_rule_evaluation_duration_seconds",
                                                help: "Time of one evaluation of every rule.",
                                                buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        evaluationFailures = registry.counter(name: "sluice_rule_evaluation_failures_total",
                                              help: "Rule evaluations that failed (the store could not be read), by rule.",
                                              labelNames: ["rule"])
        lastEvaluation = registry.gauge(name: "sluice_rule_last_evaluation_timestamp_seconds",
                                        help: "When the rules were last evaluated (Unix time).")
        budgetRemaining = registry.gauge(name: "sluice_slo_error_budget_remaining_ratio",
                                         help: "Share of the objective's error budget left over its period (negative when overspent).",
                                         labelNames: ["slo", "tenant"])
        burnRate = registry.gauge(name: "sluice_slo_burn_rate",
                                  help: "Rate at which the objective's error budget burns over a window (1 spends it exactly over the period).",
                                  labelNames: ["slo", "tenant", "window"])
        reloadSuccess = registry.gauge(name: "sluice_rules_last_reload_success",
                                       help: "Whether the last load of the rules and routes succeeded (1) or was refused (0).")
        reloadTimestamp = registry.gauge(name: "sluice_rules_last_reload_success_timestamp_seconds",
                                         help: "When the rules and routes were last loaded successfully (Unix time).")
        rulesLoaded = registry.gauge(name: "sluice_rules", help: "Rules loaded, by kind.", labelNames: ["kind"])
        leader = registry.gauge(name: "sluice_monitor_leader", help: "Whether this process evaluates the rules (1) or another does (0).")
        notifications = registry.counter(name: "sluice_notifications_total",
                                         help: "Alert notifications given to receivers, by receiver, integration and outcome.",
                                         labelNames: ["receiver", "integration", "outcome"])
        muted = registry.counter(name: "sluice_notifications_muted_total",
                                 help: "Alert notifications not sent because a silence or an inhibition rule muted them.",
                                 labelNames: ["reason"])
        reloadSuccess.labels().set(0)
        leader.labels().set(0)
        for reason in Muting.Reason.allCases { _ = muted.labels(reason.rawValue) }
    }

    func reloaded(_ configuration: MonitorConfiguration?, at seconds: Double) {
        reloadSuccess.labels().set(configuration == nil ? 0 : 1)
        guard let configuration else { return }
        reloadTimestamp.labels().set(seconds)
        var counts = ["threshold": 0.0, "slo": 0.0]
        for rule in configuration.rules {
            if case .threshold = rule.condition { counts["threshold", default: 0] += 1 } else { counts["slo", default: 0] += 1 }
        }
        for (kind, count) in counts { rulesLoaded.labels(kind).set(count) }
        // Every loaded rule has its failure count from the start; a rule no longer loaded loses its series.
        let names = Set(configuration.rules.map(\.name))
        let removed = failureSeries.withLock { series in
            defer { series = names }
            return series.subtracting(names)
        }
        for name in names { _ = evaluationFailures.labels(name) }
        for name in removed { evaluationFailures.remove([name]) }
    }

    func leading(_ leads: Bool) {
        leader.labels().set(leads ? 1 : 0)
        if !leads { publish([], objectives: []) }
    }

    func evaluated(seconds: Double, at timestamp: Double) {
        evaluationDuration.labels().observe(seconds)
        lastEvaluation.labels().set(timestamp)
    }

    func failed(rules: [MonitorRule]) {
        for rule in rules { evaluationFailures.labels(rule.name).increment() }
    }

    func muted(reason: Muting.Reason) {
        muted.labels(reason.rawValue).increment()
    }

    func notified(receiver: String, integration: String, outcome: String) {
        notifications.labels(receiver, integration, outcome).increment()
    }

    /// One objective's gauges for one tenant, kept between evaluations so setting them is a lookup.
    private struct ObjectiveGauges {
        let labels: [String]
        let budget: Gauge
        var burn: [Int: (labels: [String], gauge: Gauge)] = [:]
    }

    /// Sets the alert and objective gauges to exactly these (series no longer named are removed).
    func publish(_ active: [ActiveAlert], objectives: [ObjectiveStatus]) {
        var alertLabels: Set<[String]> = []
        for alert in active {
            let labels = [alert.labels["alertname"] ?? alert.rule, alert.tenant ?? "", alert.labels["severity"] ?? "", alert.state.rawValue]
            alerts.labels(labels).set(1)
            alertLabels.insert(labels)
        }
        let staleAlerts = publishedAlerts.withLock { published in
            defer { published = alertLabels }
            return published.subtracting(alertLabels)
        }
        for labels in staleAlerts { alerts.remove(labels) }

        var gauges = objectiveGauges.withLock { $0 }
        var seen = Set<String>(minimumCapacity: objectives.count)
        for status in objectives {
            let key = status.rule + "\u{0}" + status.tenant
            seen.insert(key)
            var entry = gauges[key] ?? ObjectiveGauges(labels: [status.rule, status.tenant],
                                                       budget: budgetRemaining.labels(status.rule, status.tenant))
            entry.budget.set(status.budgetRemaining)
            var added = gauges[key] == nil
            for (window, rate) in status.burnRates {
                if let burn = entry.burn[window] {
                    burn.gauge.set(rate)
                } else {
                    let labels = [status.rule, status.tenant, RuleDuration.text(window)]
                    let gauge = burnRate.labels(labels)
                    gauge.set(rate)
                    entry.burn[window] = (labels, gauge)
                    added = true
                }
            }
            if added { gauges[key] = entry }
        }
        for (key, entry) in gauges where !seen.contains(key) {
            budgetRemaining.remove(entry.labels)
            for burn in entry.burn.values { burnRate.remove(burn.labels) }
            gauges.removeValue(forKey: key)
        }
        objectiveGauges.withLock { $0 = gauges }
    }
}
