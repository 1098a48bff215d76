import Foundation

/// One evaluation: read the sums, evaluate every rule, store the transitions, then notify.
extension Monitor {
    /// What an evaluation did.
    public struct Evaluation: Sendable {
        public var active: [ActiveAlert]
        public var objectives: [ObjectiveStatus]
        /// Transitions stored: (rule, fingerprint, transition).
        public var transitions: [(alert: String, tenant: String?, transition: String)]
        /// Transitions handed to receivers or their groups.
        public var notified: Int
    }

    /// Evaluates every rule at `time`, stores the alerts' new state and transitions in one transaction, hands
    /// the firing and resolved transitions not yet handed on (those of an earlier evaluation that stopped
    /// before, too) to their receivers or groups, and flushes the groups due.
    @discardableResult
    public func evaluate(at time: Date) async throws -> Evaluation {
        try await evaluate(at: time, fence: nil)
    }

    /// ``evaluate(at:)`` writing only while the backend `fence` holds the lead (see ``MonitorLeadership``).
    @discardableResult
    func evaluate(at time: Date, fence: Int32?) async throws -> Evaluation {
        let started = ContinuousClock.now
        let configuration = rules
        do {
            let windows = configuration.rules.reduce(into: Set<Int>()) { $0.formUnion($1.windows) }
            let sources = Set(configuration.rules.compactMap { rule -> Series.Source? in
                if case .threshold(let threshold) = rule.condition { return threshold.series.source }
                return nil
            })
            // One query after the other: an evaluation holds one store connection at a time.
            let evaluator = RuleEvaluator(
                rules: configuration.rules, tenants: try await tenants.metadata(),
                sums: try await series.sums(at: time, windows: windows, tenants: nil),
                probes: sources.contains(.probes) ? try await series.probes(at: time, windows: windows) : [:],
                backlog: sources.contains(.backlog) ? try await series.backlog(at: time, tenants: nil) : [:])
            let (findings, objectives) = evaluator.evaluate()
            let previous = Dictionary(try await store.active().map { (AlertKey(rule: $0.rule, fingerprint: $0.fingerprint), $0) },
                                      uniquingKeysWith: { first, _ in first })
            let changes = transitions(findings, previous: previous, at: time)
            try await store.save(changes, at: time, fence: fence)
            let active = try await store.active()
            metrics.publish(active, objectives: objectives)
            var notified = 0
            if try await store.stillLeads(fence) {
                notified = await notifyPending(at: time, fence: fence)
                try await flush(at: time, fence: fence)
            }
            metrics.evaluated(seconds: started.duration(to: .now).secondsValue, at: time.timeIntervalSince1970)
            return Evaluation(active: active, objectives: objectives,
                              transitions: changes.filter { $0.transition != .none }.map {
                                  ($0.key.rule, ($0.alert ?? $0.previous)?.tenant, $0.transition.rawValue)
                              }, notified: notified)
        } catch {
            metrics.failed(rules: configuration.rules)
            throw error
        }
    }

    /// The new state of every alert a finding names, and of every stored alert no finding names any more
    /// (its rule is gone, or its tenant left the rule's scope): those resolve.
    private func transitions(_ findings: [RuleFinding], previous: [AlertKey: ActiveAlert], at time: Date)
        -> [(key: AlertKey, alert: ActiveAlert?, transition: ActiveAlert.Transition, previous: ActiveAlert?)] {
        var changes: [(key: AlertKey, alert: ActiveAlert?, transition: ActiveAlert.Transition, previous: ActiveAlert?)] = []
        var seen: Set<AlertKey> = []
        let alerting = Set(previous.values.map { "\($0.rule)\u{0}\($0.tenant ?? "")" })
        for finding in findings {
            // Neither holding nor alerting already: nothing to do, and no labels to build.
            guard finding.holds == true || alerting.contains("\(finding.rule.name)\u{0}\(finding.tenant ?? "")") else { continue }
            let labels = finding.labels
            let key = finding.key(labels)
            seen.insert(key)
            let before = previous[key]
            let annotations = finding.annotations(labels)
            var (after, transition) = ActiveAlert.next(before, holds: finding.holds, at: time, pendingFor: finding.rule.pendingFor,
                                                      keepFiringFor: finding.rule.keepFiringFor) {
                ActiveAlert(rule: finding.rule.name, fingerprint: key.fingerprint, tenant: finding.tenant, labels: labels,
                            annotations: annotations, state: .pending, value: finding.value, activeAt: time, firedAt: nil,
                            keepFiringSince: nil, evaluatedAt: time)
            }
            after?.value = finding.value
            after?.annotations = annotations
            var ended = before
            ended?.value = finding.value
            guard after != before || transition != .none else { continue }
            changes.append((key, after, transition, ended))
        }
        for (key, alert) in previous where !seen.contains(key) && !key.rule.hasPrefix(Self.inboundPrefix) {
            changes.append((key, nil, alert.state == .firing ? .resolved : .inactive, alert))
        }
        return changes
    }
}
