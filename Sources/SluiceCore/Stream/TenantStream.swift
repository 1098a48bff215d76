import Foundation
import Synchronization

/// One tenant's stream path in this process: its bounded queue, its message rate, its app instances and
/// its current window. Requests wait here until an instance commits them (or they are refused, withdrawn
/// or failed); each waiter is resumed exactly once, by the transition that removes it, outside the lock.
final class TenantStream: Sendable {
    /// Why a request was refused with 429.
    enum Refusal: String, Sendable {
        case backpressure, rateLimited = "rate_limited"
    }

    struct Throttle: Sendable {
        var messagesPerSecond: Double
        var until: ContinuousClock.Instant
        var untilDate: Date
    }

    struct Instance: Sendable {
        var kind: String
        var startedAt: Date
        var stopping = false
        var pid: Int32?
        var restarts = 0
    }

    private struct State {
        var definition: TenantDefinition
        var queue: StreamQueue
        var waiters: [UInt64: CheckedContinuation<StreamAnswer, any Error>] = [:]
        var rate: TokenBalance?
        var throttle: Throttle?
        var desired: Int
        var instances: [Int: Instance] = [:]
        var nextInstance = 1
        var window: StreamWindow
        var lastWork = ContinuousClock.now
        /// Closed streams take no request and start no instance.
        var closed = false
    }

    let tenant: String
    /// Wakes instances waiting for work.
    let work = WakeUpSignal()
    private let state: Mutex<State>
    private let defaults: StreamManager.Configuration
    private let metrics: StreamMetrics
    private static let clockOrigin = ContinuousClock.now

    init(definition: TenantDefinition, defaults: StreamManager.Configuration, metrics: StreamMetrics) {
        tenant = definition.id
        self.defaults = defaults
        self.metrics = metrics
        let agreement = definition.serviceAgreement.stream
        var initial = State(definition: definition, queue: StreamQueue(limits: Self.limits(definition, defaults)),
                            desired: Self.clamp(max(agreement.minInstances, 1), agreement), window: StreamWindow(startedAt: Date()))
        Self.configureRate(&initial, now: Self.now)
        state = Mutex(initial)
        metrics.touch(tenant: tenant)
    }

    private static var now: Duration { ContinuousClock.now - clockOrigin }

    private static func limits(_ definition: TenantDefinition, _ defaults: StreamManager.Configuration) -> StreamQueue.Limits {
        let agreement = definition.serviceAgreement.stream
        return StreamQueue.Limits(
            maxMessages: agreement.maxQueueMessages ?? defaults.queueMessages, maxBytes: agreement.maxQueueBytes ?? defaults.queueBytes,
            batchMessages: min(agreement.batchMessages ?? defaults.batchMessages, RowLoader.maximumStoredRejects),
            batchBytes: agreement.batchBytes ?? defaults.batchBytes,
            linger: agreement.lingerMilliseconds.map { .milliseconds($0) } ?? defaults.linger)
    }

    private static func clamp(_ desired: Int, _ agreement: StreamAgreement) -> Int {
        min(max(desired, agreement.minInstances), agreement.maxInstances)
    }

    /// The message rate in force: the tenant's `max_stream_rate`, tightened by a throttle.
    private static func configureRate(_ state: inout State, now: Duration) {
        var rate = state.definition.constraints.maxStreamRate.map { (perSecond: $0.messagesPerSecond, burst: Double($0.burst)) }
        if let throttle = state.throttle {
            let tightened = min(rate?.perSecond ?? .infinity, throttle.messagesPerSecond)
            rate = (tightened, min(rate?.burst ?? .infinity, max(1, tightened)))
        }
        guard let rate else { return state.rate = nil }
        if state.rate == nil {
            state.rate = TokenBalance(rate: rate.perSecond, burst: rate.burst, now: now)
        } else {
            state.rate?.reconfigure(rate: rate.perSecond, burst: rate.burst, now: now)
        }
    }

    var definition: TenantDefinition { state.withLock { $0.definition } }
    var limits: StreamQueue.Limits { state.withLock { $0.queue.limits } }

    /// Takes a newer definition: bounds, rate and the desired count follow it.
    func update(_ definition: TenantDefinition) {
        let stops = state.withLock { state -> Int in
            guard state.definition != definition, !state.closed else { return 0 }
            state.definition = definition
            state.queue.limits = Self.limits(definition, defaults)
            state.desired = Self.clamp(state.desired, definition.serviceAgreement.stream)
            Self.configureRate(&state, now: Self.now)
            return Self.markSurplus(&state)
        }
        for _ in 0..<stops { work.signal() }
    }

    // MARK: Requests

    /// Queues `entry` and waits for its answer. Throws a `429` ``ServiceError`` when the queue is full or the
    /// rate exceeded (nothing taken), or what failed its micro-batch. `start` is called with how many
    /// instances to start so that the request is served.
    func submit(_ entry: StreamEntry, start: @Sendable (Int) -> Void) async throws -> StreamAnswer {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StreamAnswer, any Error>) in
                let admission = state.withLock { state -> Result<Int, ServiceError> in
                    if Task.isCancelled { return .failure(ServiceError(.unavailable, "cancelled", "the request was cancelled")) }
                    if state.closed { return .failure(ServiceError(.unavailable, "shutting_down", "the tenant's stream is closed; retry", retryAfterSeconds: 1)) }
                    guard state.queue.fits(entry) else { return .failure(refuse(.backpressure, entry, &state, retryAfter: .seconds(1))) }
                    if let wait = state.rate?.take(entry.payload.count, now: Self.now) {
                        return .failure(refuse(.rateLimited, entry, &state, retryAfter: wait))
                    }
                    state.queue.append(entry)
                    state.waiters[entry.id] = continuation
                    state.window.received(messages: entry.payload.count, bytes: entry.payload.bytes)
                    state.lastWork = .now
                    metrics.queue(tenant: tenant, messages: state.queue.messages, bytes: state.queue.bytes)
                    return .success(max(0, state.desired - Self.running(state)))
                }
                switch admission {
                case .failure(let error):
                    continuation.resume(throwing: error)
                case .success(let missing):
                    metrics.received(tenant: tenant, bytes: entry.payload.bytes)
                    if missing > 0 { start(missing) }
                    work.signal()
                }
            }
        } onCancel: {
            withdraw(entry.id, failing: CancellationError())
        }
    }

    private func refuse(_ reason: Refusal, _ entry: StreamEntry, _ state: inout State, retryAfter: Duration) -> ServiceError {
        state.window.throttled(reason.rawValue, messages: entry.payload.count)
        metrics.throttled(tenant: tenant, reason: reason.rawValue)
        let seconds = max(1, Int(retryAfter.secondsValue.rounded(.up)))
        let message = reason == .backpressure
            ? "the tenant's stream queue is full (\(state.queue.messages) messages, \(state.queue.bytes) bytes queued); retry later"
            : "the tenant's stream rate (\(state.rate.map { "\($0.rate)" } ?? "?") messages/s) is exceeded; retry later"
        return ServiceError(.rateLimited, reason.rawValue, message, retryAfterSeconds: seconds)
    }

    /// Fails the request `id` with `error` if it is still queued (an instance has not taken it); returns
    /// whether it was.
    @discardableResult
    func withdraw(_ id: UInt64, failing error: any Error) -> Bool {
        let waiter = state.withLock { state -> CheckedContinuation<StreamAnswer, any Error>? in
            guard let entry = state.queue.withdraw(id) else { return nil }
            state.window.failed(messages: entry.payload.count)
            metrics.queue(tenant: tenant, messages: state.queue.messages, bytes: state.queue.bytes)
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume(throwing: error)
        return waiter != nil
    }

    /// Ends the stream (shutdown, or its tenant deleted): every queued request fails with `error`, instances
    /// stop once their micro-batch is committed, and none starts again.
    func close(failing error: any Error) {
        let (waiters, stops) = state.withLock { state in
            state.closed = true
            state.desired = 0
            let waiters = state.queue.removeAll().compactMap { entry -> CheckedContinuation<StreamAnswer, any Error>? in
                state.window.failed(messages: entry.payload.count)
                return state.waiters.removeValue(forKey: entry.id)
            }
            return (waiters, Self.markSurplus(&state))
        }
        for waiter in waiters { waiter.resume(throwing: error) }
        for _ in 0..<stops { work.signal() }
    }

    // MARK: Instances

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
        let waiters = state.withLock { state in
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
            return zip(entries, results).compactMap { entry, result in
                state.waiters.removeValue(forKey: entry.id).map { ($0, result) }
            }
        }
        var committed = 0
        for (waiter, result) in waiters {
            if case .success(let answer) = result {
                metrics.committed(tenant: tenant, accepted: answer.accepted, rejected: answer.rejected)
                committed += answer.accepted + answer.rejected
            }
            waiter.resume(with: result)
        }
        if committed > 0 { metrics.batchCommitted(tenant: tenant, messages: committed) }
    }

    private static func running(_ state: State) -> Int {
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
    private static func markSurplus(_ state: inout State) -> Int {
        let surplus = running(state) - state.desired
        guard surplus > 0 else { return 0 }
        let victims = state.instances.filter { !$0.value.stopping }.keys.sorted().suffix(surplus)
        for id in victims { state.instances[id]?.stopping = true }
        return victims.count
    }

    // MARK: Actions

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
                                 instancesRunning: running, appKind: state.definition.effectiveStreamApp.kind.rawValue)
        }
    }

    /// Whether the stream has nothing queued, no instance and no waiter: it can be forgotten.
    var isDormant: Bool {
        state.withLock { $0.queue.isEmpty && $0.instances.isEmpty && $0.waiters.isEmpty && $0.throttle == nil }
    }
}
