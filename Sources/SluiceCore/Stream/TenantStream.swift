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

    struct State {
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
    let state: Mutex<State>
    let defaults: StreamManager.Configuration
    let metrics: StreamMetrics
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

    static var now: Duration { ContinuousClock.now - clockOrigin }

    static func limits(_ definition: TenantDefinition, _ defaults: StreamManager.Configuration) -> StreamQueue.Limits {
        let agreement = definition.serviceAgreement.stream
        return StreamQueue.Limits(
            maxMessages: agreement.maxQueueMessages ?? defaults.queueMessages, maxBytes: agreement.maxQueueBytes ?? defaults.queueBytes,
            batchMessages: min(agreement.batchMessages ?? defaults.batchMessages, RowLoader.maximumStoredRejects),
            batchBytes: agreement.batchBytes ?? defaults.batchBytes,
            linger: agreement.lingerMilliseconds.map { .milliseconds($0) } ?? defaults.linger)
    }

    static func clamp(_ desired: Int, _ agreement: StreamAgreement) -> Int {
        min(max(desired, agreement.minInstances), agreement.maxInstances)
    }

    /// The message rate in force: the tenant's `max_stream_rate`, tightened by a throttle.
    static func configureRate(_ state: inout State, now: Duration) {
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
}
