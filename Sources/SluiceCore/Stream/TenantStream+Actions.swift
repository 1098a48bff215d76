import Foundation

/// The stream manager's actions on a tenant's stream, the state the API shows, and the windows.
extension TenantStream {
    /// Applies `action` within the tenant's bounds: returns the outcome (`applied`, `clamped`, `rejected`),
    /// a message for the log, and how many instances to start.
    func apply(_ action: StreamAction) -> (outcome: String, message: String?, start: Int) {
        let (result, stops) = state.withLock { state -> ((String, String?, Int), Int) in
            if state.closed { return (("rejected", "the tenant's stream is closed", 0), 0) }
            let agreement = state.definition.serviceAgreement.stream
            let bounds = agreement.minInstances...agreement.maxInstances
            func scale(to wanted: Int) -> (String, String?) {
                let target = Self.clamp(wanted, agreement)
                if target == state.desired && target != wanted {
                    return ("rejected", "desired is already \(state.desired), at the bound of \(bounds)")
                }
                state.desired = target
                return target == wanted ? ("applied", nil) : ("clamped", "stopped at the bound of \(bounds): desired is \(target)")
            }
            var outcome: (String, String?)
            switch action {
            case .scaleUp(let by): outcome = scale(to: state.desired + by)
            case .scaleDown(let by): outcome = scale(to: state.desired - by)
            case .setDesired(let n):
                guard bounds.contains(n) else {
                    return (("rejected", "\(n) is outside the tenant's bounds \(bounds) (service_agreement.stream)", 0), 0)
                }
                state.desired = n
                outcome = ("applied", nil)
            case .throttle(let rate, let seconds):
                state.throttle = Throttle(messagesPerSecond: rate, until: .now + .seconds(seconds),
                                          untilDate: Date().addingTimeInterval(Double(seconds)))
                Self.configureRate(&state, now: Self.now)
                outcome = ("applied", nil)
            case .resume:
                let lifted = state.throttle != nil
                state.throttle = nil
                Self.configureRate(&state, now: Self.now)
                outcome = ("applied", lifted ? nil : "no throttle was in force")
            }
            let stops = Self.markSurplus(&state)
            let start = agreement.startOnDemand && state.queue.isEmpty && Self.running(state) == 0
                ? max(0, agreement.minInstances - Self.running(state)) : max(0, state.desired - Self.running(state))
            metrics.instances(tenant: tenant, running: Self.running(state), desired: state.desired)
            return ((outcome.0, outcome.1, start), stops)
        }
        for _ in 0..<stops { work.signal() }
        return result
    }

    /// Lifts a throttle whose time is up.
    func expireThrottle() {
        state.withLock { state in
            guard let throttle = state.throttle, throttle.until <= .now else { return }
            state.throttle = nil
            Self.configureRate(&state, now: Self.now)
        }
    }

    /// The instances as the API shows them.
    var instancesState: StreamInstancesState {
        state.withLock { state in
            let agreement = state.definition.serviceAgreement.stream
            return StreamInstancesState(
                desired: state.desired, running: Self.running(state), min: agreement.minInstances, max: agreement.maxInstances,
                startOnDemand: agreement.startOnDemand, idleStopSeconds: agreement.idleStopSeconds,
                throttle: state.throttle.map { .init(messagesPerSecond: $0.messagesPerSecond, until: $0.untilDate) },
                instances: state.instances.filter { !$0.value.stopping }.sorted { $0.key < $1.key }.map { id, instance in
                    .init(id: id, kind: instance.kind, startedAt: instance.startedAt, pid: instance.pid, restarts: instance.restarts)
                })
        }
    }

    // MARK: Windows

    /// Closes the current window and opens the next; returns the closed window's report, unless it had no
    /// traffic and no instance ran.
    func closeWindow(sourceID: String) -> IngestionReport? {
        state.withLock { state in
            let closed = state.window
            let now = Date()
            state.window = StreamWindow(startedAt: now)
            let running = Self.running(state)
            metrics.queue(tenant: tenant, messages: state.queue.messages, bytes: state.queue.bytes)
            guard closed.hasTraffic || running > 0 else { return nil }
            return closed.report(tenant: tenant, sourceID: sourceID, finishedAt: now, queueMessages: state.queue.messages,
                                 queueOldest: state.queue.oldestReceivedAt, instancesRunning: running, appKind: state.definition.effectiveStreamApp.kind.rawValue)
        }
    }

    /// Whether the stream has nothing queued, no instance and no waiter: it can be forgotten.
    var isDormant: Bool {
        state.withLock { $0.queue.isEmpty && $0.instances.isEmpty && $0.waiters.isEmpty && $0.throttle == nil }
    }
}
