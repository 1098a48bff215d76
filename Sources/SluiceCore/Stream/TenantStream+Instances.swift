import Foundation

/// The instances of a tenant's stream: the work they take, the answers they give, how many run.
extension TenantStream {
    /// What an instance should do next.
    enum Work: Sendable {
        case commit([StreamEntry])
        case wait(Duration)
        case stop
    }

    /// The next micro-batch for instance `id`, or how long to wait for one, or that it should stop (it was
    /// scaled down, or has been idle for `idle_stop_seconds` with more than `min_instances` running).
    func nextWork(instance id: Int, idleCheck: Duration) -> Work {
        state.withLock { state in
            guard let instance = state.instances[id], !instance.stopping else {
                state.instances[id] = nil
                return .stop
            }
            switch state.queue.next(now: .now) {
            case .take(let entries):
                state.lastWork = .now
                metrics.queue(tenant: tenant, messages: state.queue.messages, bytes: state.queue.bytes)
                return .commit(entries)
            case .linger(let remaining):
                return .wait(remaining)
            case .wait:
                let agreement = state.definition.serviceAgreement.stream
                let idle = state.lastWork.duration(to: .now)
                if agreement.startOnDemand && idle >= .seconds(agreement.idleStopSeconds) && Self.running(state) > agreement.minInstances {
                    state.instances[id] = nil
                    return .stop
                }
                return .wait(min(idleCheck, .seconds(agreement.idleStopSeconds) - idle))
            }
        }
    }

    /// Answers the requests of a micro-batch: each with its result, in the window and the metrics.
    func finish(_ entries: [StreamEntry], results: [Result<StreamAnswer, any Error>]) {
        let now = ContinuousClock.now
        let (waiters, committed) = state.withLock { state in
            var committed = 0
            for (entry, result) in zip(entries, results) {
                switch result {
                case .success(let answer):
                    state.window.committed(answer, latency: entry.received.duration(to: now).secondsValue)
                    committed += answer.accepted + answer.rejected
                case .failure:
                    state.window.failed(messages: entry.payload.count)
                }
            }
            if committed > 0 { state.window.batchCommitted(messages: committed) }
            state.lastWork = now
            let waiters = zip(entries, results).compactMap { entry, result in
                state.waiters.removeValue(forKey: entry.id).map { ($0, result) }
            }
            return (waiters, committed)
        }
        for case .success(let answer) in results {
            metrics.committed(tenant: tenant, accepted: answer.accepted, rejected: answer.rejected)
        }
        if committed > 0 { metrics.batchCommitted(tenant: tenant, messages: committed) }
        for (waiter, result) in waiters { waiter.resume(with: result) }
    }

    static func running(_ state: State) -> Int {
        state.instances.values.count { !$0.stopping }
    }

    /// Registers up to `count` new instances of `kind` (within the desired count); returns their ids for the
    /// manager to run.
    func addInstances(_ count: Int, kind: String) -> [Int] {
        state.withLock { state in
            guard !state.closed else { return [] }
            // Never beyond the desired count: concurrent requests may each ask for the instances missing.
            let running = Self.running(state)
            let room = max(0, min(count, state.desired - running, state.definition.serviceAgreement.stream.maxInstances - running))
            let ids = (0..<room).map { state.nextInstance + $0 }
            state.nextInstance += room
            for id in ids { state.instances[id] = Instance(kind: kind, startedAt: Date()) }
            metrics.instances(tenant: tenant, running: Self.running(state), desired: state.desired)
            return ids
        }
    }

    /// How many instances are missing to reach the desired count (when they run without traffic).
    func missingInstances(whenIdle: Bool) -> Int {
        state.withLock { state in
            let agreement = state.definition.serviceAgreement.stream
            let wanted = state.closed ? 0 : whenIdle && agreement.startOnDemand ? agreement.minInstances : state.desired
            return max(0, wanted - Self.running(state))
        }
    }

    /// Instance `id` ended (it stopped, or its task ended).
    func instanceEnded(_ id: Int) {
        state.withLock { state in
            state.instances[id] = nil
            metrics.instances(tenant: tenant, running: Self.running(state), desired: state.desired)
        }
    }

    /// Instance `id` is ready after `seconds` of starting (or, `restart`, its app was started again); `pid` for an
    /// external app's process.
    func instanceStarted(_ id: Int, seconds: Double, pid: Int32?, restart: Bool) {
        state.withLock { state in
            state.instances[id]?.pid = pid
            if restart {
                state.instances[id]?.restarts += 1
            } else {
                state.window.instanceStarted(seconds: seconds)
            }
        }
    }

    /// Marks running instances beyond the desired count as stopping; returns how many.
    static func markSurplus(_ state: inout State) -> Int {
        let surplus = running(state) - state.desired
        guard surplus > 0 else { return 0 }
        let victims = state.instances.filter { !$0.value.stopping }.keys.sorted().suffix(surplus)
        for id in victims { state.instances[id]?.stopping = true }
        return victims.count
    }
}
