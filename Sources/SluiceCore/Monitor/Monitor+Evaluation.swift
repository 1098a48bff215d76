import Foundation

/// One evaluation: read the sums, evaluate every rule, store the transitions, then notify.
extension Monitor {
    /// What an evaluation did.
    public struct Evaluation: Sendable {
        public var active: [ActiveAlert]
        public var objectives: [ObjectiveStatus]
        /// Transitions stored: (rule, fingerprint, transition).
        public var transitions: [(alert: String, tenant: String?, transition: String)]
        /// Notifications handed to receivers.
        public var notified: Int
    }

    /// Evaluates every rule at `time`, stores the alerts' new state and transitions in one transaction, and
    /// gives receivers the firing and resolved transitions not yet given (those of an earlier evaluation
    /// that stopped before notifying, too).
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
            let notified = try await store.stillLeads(fence) ? await notifyPending() : 0
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

    /// Gives receivers every firing or resolved transition not yet given, in order; returns how many.
    @discardableResult
    func notifyPending() async -> Int {
        guard let events = try? await store.unnotified(), !events.isEmpty else { return 0 }
        let configuration = rules
        let muting = try? await muting(configuration)
        for event in events {
            let rule = configuration.rules.first { $0.name == event.alert.rule }
            let status: AlertNotification.Status = event.state == "firing" ? .firing : .resolved
            let notification = AlertNotification(
                status: status, labels: event.alert.labels, annotations: event.alert.annotations, startsAt: event.alert.activeAt,
                endsAt: status == .resolved ? event.at : nil, value: event.alert.value, source: "alert:\(event.alert.rule)",
                actions: (status == .firing ? rule?.firingActions : rule?.resolvedActions) ?? [])
            await deliver(notification, route: configuration.route, muting: muting)
            do {
                try await store.markNotified(event.id, at: now())
            } catch {
                logger.warning("could not mark an alert notification as sent", metadata: ["error": "\(error)"])
                break
            }
        }
        return events.count
    }

    /// The silences active now and the inhibition rules, given the alerts firing now.
    func muting(_ configuration: MonitorConfiguration) async throws -> Muting {
        let time = now()
        return Muting(silences: try await silences.list(activeAt: time), inhibitRules: configuration.inhibitRules,
                      firing: try await store.active().filter { $0.state == .firing }.map(\.labels), time: time)
    }

    /// Hands `notification` to every receiver `route` picks for its labels, unless it is silenced or inhibited;
    /// a receiver's failure is logged and counted, and never stops the others.
    func deliver(_ notification: AlertNotification, route: NotificationRoute, muting: Muting?) async {
        if let reason = muting?.reason(for: notification) {
            metrics.muted(reason: reason)
            return
        }
        for name in route.receivers(for: notification.labels) {
            guard let receiver = receivers.withLock({ $0[name] }) else {
                metrics.notified(receiver: name, integration: "none", outcome: "no_integration")
                continue
            }
            do {
                // A receiver with a queue of its own counts its outcomes itself.
                if try await receiver.deliver(notification) == .delivered {
                    metrics.notified(receiver: name, integration: receiver.integration, outcome: "delivered")
                }
            } catch {
                metrics.notified(receiver: name, integration: receiver.integration, outcome: "failed")
                logger.warning("notification not delivered", metadata: [
                    "receiver": "\(name)", "alert": "\(notification.name)", "tenant": "\(notification.tenant ?? "")", "error": "\(error)"])
            }
        }
    }
}
