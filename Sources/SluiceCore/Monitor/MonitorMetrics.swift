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
    /// The label sets set at the last evaluation, per family, so those gone are removed.
    private let published = Mutex<[String: Set<[String]>]>([:])

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
        reloadSuccess.labels().set(0)
        leader.labels().set(0)
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

    func notified(receiver: String, integration: String, outcome: String) {
        notifications.labels(receiver, integration, outcome).increment()
    }

    /// Sets the alert and objective gauges to exactly these.
    func publish(_ active: [ActiveAlert], objectives: [ObjectiveStatus]) {
        var sets: [String: [[String]: Double]] = ["alerts": [:], "budget": [:], "burn": [:]]
        for alert in active {
            sets["alerts"]![[alert.labels["alertname"] ?? alert.rule, alert.tenant ?? "", alert.labels["severity"] ?? "", alert.state.rawValue]] = 1
        }
        for status in objectives {
            sets["budget"]![[status.rule, status.tenant]] = status.budgetRemaining
            for (window, rate) in status.burnRates { sets["burn"]![[status.rule, status.tenant, RuleDuration.text(window)]] = rate }
        }
        let families = ["alerts": alerts, "budget": budgetRemaining, "burn": burnRate]
        let stale = published.withLock { published in
            var stale: [String: Set<[String]>] = [:]
            for (name, values) in sets {
                stale[name] = (published[name] ?? []).subtracting(values.keys)
                published[name] = Set(values.keys)
            }
            return stale
        }
        for (name, values) in sets {
            for (labels, value) in values { families[name]!.labels(labels).set(value) }
            for labels in stale[name] ?? [] { families[name]!.remove(labels) }
        }
    }
}
