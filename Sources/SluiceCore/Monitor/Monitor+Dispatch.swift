import Foundation

/// From alert transitions to receivers, as Alertmanager's dispatcher does it: each notification is routed;
/// immediate receivers (the stream manager) act at once, the others' aggregation groups collect it and flush
/// after `group_wait`, then every `group_interval` when their alerts changed, or after `repeat_interval`.
extension Monitor {
    /// Hands every firing or resolved transition not yet handed on to its receivers, in order; returns how many.
    @discardableResult
    func notifyPending(at time: Date, fence: Int32?) async -> Int {
        guard let events = try? await store.unnotified(), !events.isEmpty else { return 0 }
        let configuration = rules
        let muting = try? await muting(configuration)
        for (index, event) in events.enumerated() {
            let rule = configuration.rules.first { $0.name == event.alert.rule }
            let status: AlertNotification.Status = event.state == "firing" ? .firing : .resolved
            let notification = AlertNotification(
                status: status, labels: event.alert.labels, annotations: event.alert.annotations, startsAt: event.alert.activeAt,
                endsAt: status == .resolved ? event.at : nil, value: event.alert.value, source: "alert:\(event.alert.rule)",
                actions: (status == .firing ? rule?.firingActions : rule?.resolvedActions) ?? [])
            let (immediate, grouped) = destinations(for: notification.labels, route: configuration.route)
            await deliverNow(notification, to: immediate, muting: muting)
            do {
                try await groups.add(notification, to: grouped, at: time, event: event.id, fence: fence)
            } catch {
                logger.warning("could not hand an alert notification on", metadata: ["error": "\(error)"])
                return index
            }
        }
        return events.count
    }

    /// The silences active now (by the monitor's clock: silences are set and expired in real time, whatever
    /// time an evaluation is for) and the inhibition rules, given the alerts firing now.
    func muting(_ configuration: MonitorConfiguration) async throws -> Muting {
        let time = now()
        return Muting(silences: try await silences.list(activeAt: time), inhibitRules: configuration.inhibitRules,
               firing: try await store.active().filter { $0.state == .firing }.map(\.labels), time: time)
    }

    /// The receivers `route` picks for `labels`: those that act at once (each once), and the destinations of
    /// the others, whose groups collect the alert.
    func destinations(for labels: [String: String], route: NotificationRoute) -> (immediate: [any NotificationReceiver], grouped: [RouteDestination]) {
        var immediate: [any NotificationReceiver] = []
        var grouped: [RouteDestination] = []
        for destination in route.destinations(for: labels) {
            guard let receiver = receivers.withLock({ $0[destination.receiver] }) else {
                metrics.notified(receiver: destination.receiver, integration: "none", outcome: "no_integration")
                continue
            }
            if !receiver.immediate {
                grouped.append(destination)
            } else if !immediate.contains(where: { $0.name == receiver.name }) {
                immediate.append(receiver)
            }
        }
        return (immediate, grouped)
    }

    /// Gives `notification` to `receivers` at once, unless it is muted; a failure is logged and counted and stops
    /// no other.
    func deliverNow(_ notification: AlertNotification, to receivers: [any NotificationReceiver], muting: Muting?) async {
        guard !receivers.isEmpty else { return }
        if let reason = muting?.reason(for: notification) {
            metrics.muted(reason: reason)
            return
        }
        for receiver in receivers {
            do {
                let group = AlertGroup(receiver: receiver.name, key: "{}:{}", labels: [:], alerts: [notification])
                if try await receiver.deliver(group, whenDone: { _ in }) == .delivered {
                    metrics.notified(receiver: receiver.name, integration: receiver.integration, outcome: "delivered")
                }
            } catch {
                metrics.notified(receiver: receiver.name, integration: receiver.integration, outcome: "failed")
                logger.warning("notification not delivered", metadata: [
                    "receiver": "\(receiver.name)", "alert": "\(notification.name)", "tenant": "\(notification.tenant ?? "")", "error": "\(error)"])
            }
        }
    }

    /// Flushes every group due at `time` (see ``flush(at:fence:)``); returns how many groups notified.
    @discardableResult
    public func flush(at time: Date) async throws -> Int {
        try await flush(at: time, fence: nil)
    }

    /// Flushes the groups due at `time` while the backend `fence` leads: the alerts neither silenced nor
    /// inhibited are sent when the group needs it (Alertmanager's rules, ``needsNotification``), resolved ones
    /// only to receivers that send resolved. What a group last sent is written once its notification is
    /// delivered; one that is not is sent again at the group's next flush.
    @discardableResult
    func flush(at time: Date, fence: Int32?) async throws -> Int {
        let due = try await groups.claim(at: time, fence: fence)
        guard !due.isEmpty else { return 0 }
        let configuration = rules
        let muting = try await muting(configuration)
        var notified = 0
        for group in due {
            guard let receiver = receivers.withLock({ $0[group.receiver] }), !receiver.immediate else {
                // Its receiver went with a reload: so does the group, as Alertmanager drops a removed route's groups.
                try await groups.remove(receiver: group.receiver, fence: fence)
                continue
            }
            let id = "\(group.receiver)\u{0}\(group.key)"
            guard inFlight.withLock({ !$0.contains(id) }) else { continue }
            let unmuted = group.alerts.filter { alert in
                guard let reason = muting.reason(for: alert) else { return true }
                metrics.muted(reason: reason)
                return false
            }
            let firing = Set(unmuted.filter { $0.status == .firing }.map(\.fingerprint))
            let resolved = Set(unmuted.filter { $0.status == .resolved }.map(\.fingerprint))
            guard Self.needsNotification(group, firing: firing, resolved: resolved, sendResolved: receiver.sendResolved, at: time) else {
                try await groups.settle(group, notified: nil, at: time)
                continue
            }
            let sent = unmuted.filter { $0.status == .firing || receiver.sendResolved }
            guard !sent.isEmpty else {
                try await groups.settle(group, notified: (firing, resolved), at: time)
                continue
            }
            inFlight.withLock { _ = $0.insert(id) }
            do {
                let receipt = try await receiver.deliver(AlertGroup(receiver: receiver.name, key: group.key, labels: group.labels, alerts: sent)) {
                    [self] delivered in
                    if delivered {
                        do {
                            try await groups.settle(group, notified: (firing, resolved), at: time)
                        } catch {
                            logger.warning("a delivered notification was not recorded", metadata: ["group": "\(group.key)", "error": "\(error)"])
                        }
                    }
                    inFlight.withLock { _ = $0.remove(id) }
                }
                if receipt == .delivered { metrics.notified(receiver: receiver.name, integration: receiver.integration, outcome: "delivered") }
                notified += 1
            } catch {
                inFlight.withLock { _ = $0.remove(id) }
                metrics.notified(receiver: receiver.name, integration: receiver.integration, outcome: "failed")
                logger.warning("notification not delivered", metadata: ["receiver": "\(receiver.name)", "group": "\(group.key)",
                                                                        "error": "\(error)"])
            }
        }
        return notified
    }

    /// Alertmanager's deduplication: a group notifies when it has firing alerts not notified before, when all
    /// its alerts resolved after a notification of firing ones, when resolutions not notified before go to a
    /// receiver that sends them, or when `repeat_interval` has passed since its last notification.
    static func needsNotification(_ group: NotificationGroups.Group, firing: Set<String>, resolved: Set<String>, sendResolved: Bool,
                                  at time: Date) -> Bool {
        guard let notifiedAt = group.notifiedAt else { return !firing.isEmpty }
        if !firing.isSubset(of: group.firingSent) { return true }
        if firing.isEmpty { return !group.firingSent.isEmpty }
        if sendResolved, !resolved.isSubset(of: group.resolvedSent) { return true }
        return notifiedAt.addingTimeInterval(Double(group.repeatInterval)) <= time
    }
}
