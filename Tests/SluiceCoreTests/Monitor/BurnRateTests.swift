import Foundation
@testable import SluiceCore
import Testing

/// Objectives' multiwindow, multi-burn-rate alerts: each window pair fires exactly when both its windows burn
/// faster than its factor, with enough events; zero traffic burns nothing.
@Suite struct BurnRateTests {
    private static let hour = 3600, minute = 60, day = 86_400

    private let rule = MonitorRule(
        name: "Availability", file: "test.yaml",
        condition: .objective(.init(indicator: .availability, kind: nil, objective: 0.999, period: 30 * day,
                                    burnWindows: MonitorRule.Objective.standardBurnWindows(period: 30 * day), minimumEvents: 10)),
        scope: .everyTenant, pendingFor: 0, keepFiringFor: 0, labels: ["team": "ingest"], annotations: [:], firingActions: [], resolvedActions: [])

    /// Evaluates the rule for one tenant whose windows hold `(bad, total)` events (unnamed windows: none).
    private func evaluate(_ events: [Int: (bad: Int64, total: Int64)]) -> (firing: Set<String>, status: ObjectiveStatus) {
        var sums = ReportSums()
        for window in rule.windows {
            var aggregate = ReportAggregate()
            let (bad, total) = events[window] ?? (0, 0)
            aggregate.eventsTotal = total
            aggregate.eventsGood = total - bad
            sums.add(aggregate, tenant: "tenant-a", kind: .batch, toWindows: [window])
        }
        let evaluator = RuleEvaluator(rules: [rule], tenants: ["tenant-a": [:]], sums: sums, probes: [:], backlog: [:])
        let (findings, objectives) = evaluator.evaluate()
        return (Set(findings.filter { $0.holds == true }.compactMap { $0.labels["severity"] }), objectives[0])
    }

    // With a 99.9 % objective a burn rate of 20 is 2 % of events bad.
    @Test(arguments: [
        ("1h and 5m above 14.4", [hour: (20, 1000), 5 * minute: (2, 100)], ["page"]),
        ("1h above 14.4, 5m not", [hour: (20, 1000), 5 * minute: (0, 100)], []),
        ("5m above 14.4, 1h not", [hour: (10, 1000), 5 * minute: (2, 100)], []),
        ("6h and 30m above 6", [6 * hour: (7, 1000), 30 * minute: (7, 1000)], ["page"]),
        ("1d and 2h above 3", [day: (4, 1000), 2 * hour: (4, 1000)], ["ticket"]),
        ("3d and 6h above 1", [3 * day: (15, 10_000), 6 * hour: (15, 10_000)], ["ticket"]),
        ("1h and 5m and 1d and 2h", [hour: (20, 1000), 5 * minute: (2, 100), day: (4, 1000), 2 * hour: (4, 1000)], ["page", "ticket"]),
        ("a quiet tenant: every event failed but only 5", [hour: (5, 5), 5 * minute: (5, 5)], []),
        ("zero traffic", [:], []),
    ] as [(String, [Int: (bad: Int64, total: Int64)], Set<String>)])
    func windowPairsFireExactlyWhenTheirConditionHolds(_ name: String, _ events: [Int: (bad: Int64, total: Int64)], _ expected: Set<String>) {
        #expect(evaluate(events).firing == expected, "\(name)")
    }

    @Test func errorBudgetAndBurnRates() {
        let spentHalf = evaluate([30 * Self.day: (5, 10_000), Self.hour: (20, 1000)]).status
        #expect(abs(spentHalf.budgetRemaining - 0.5) < 1e-9)
        #expect(abs((spentHalf.burnRates[Self.hour] ?? 0) - 20) < 1e-9)
        #expect(spentHalf.burnRates.keys.sorted() == [300, 1800, 3600, 7200, 21_600, 86_400, 259_200])
        // No traffic spends nothing.
        #expect(evaluate([:]).status.budgetRemaining == 1)
        #expect(evaluate([:]).status.burnRates.values.allSatisfy { $0 == 0 })
        // Overspent is negative.
        #expect(evaluate([30 * Self.day: (30, 10_000)]).status.budgetRemaining < 0)
    }

    /// A burn rate exactly at the factor does not fire, just above does (a 50 % objective keeps the arithmetic exact).
    @Test func exactlyAtTheFactorIsNotAbove() {
        let half = MonitorRule(
            name: "Half", file: "test.yaml",
            condition: .objective(.init(indicator: .availability, kind: nil, objective: 0.5, period: 30 * Self.day,
                                        burnWindows: [.init(long: Self.hour, short: 5 * Self.minute, factor: 1, severity: "page")],
                                        minimumEvents: 1)),
            scope: .everyTenant, pendingFor: 0, keepFiringFor: 0, labels: [:], annotations: [:], firingActions: [], resolvedActions: [])
        func fires(bad: Int64) -> Bool {
            var sums = ReportSums()
            var aggregate = ReportAggregate()
            aggregate.eventsTotal = 64
            aggregate.eventsGood = 64 - bad
            sums.add(aggregate, tenant: "t", kind: .batch, toWindows: [Self.hour, 5 * Self.minute])
            return RuleEvaluator(rules: [half], tenants: ["t": [:]], sums: sums, probes: [:], backlog: [:]).evaluate().findings
                .contains { $0.holds == true }
        }
        #expect(!fires(bad: 32))
        #expect(fires(bad: 33))
    }

    @Test func factorsKeepTheirShareOfTheBudgetForOtherPeriods() {
        #expect(MonitorRule.Objective.standardBurnWindows(period: 7 * Self.day).map(\.factor) == [3.36, 1.4, 0.7, 0.233])
    }
}
