import Foundation
import Logging
import SluiceCommon
import Synchronization

/// How one attempt to deliver went.
struct DeliveryAttempt: Sendable {
    /// The HTTP status or the SMTP reply code, when the server answered.
    var reply: Int?
    /// Why it was not delivered; nil when it was.
    var failure: String?
    var retryable = false
    /// How long the server asked to be left alone.
    var retryAfter: Duration?
}

/// A receiver's own bounded queue of groups to send out, and its worker: each group is prepared once (a
/// request, a message) and attempted until delivered, refused for good, or past the retry deadline, every
/// attempt logged and counted, and its `done` told the outcome. A full queue drops its oldest group (logged,
/// counted, and told); a slow or dead server delays only its own queue. A stopped queue tells what it still
/// held that it was not delivered.
final class DeliveryQueue<Prepared: Sendable>: Sendable {
    struct Configuration: Sendable {
        var receiver: String
        var integration: String
        var capacity: Int
        var retry: RetryPolicy
    }

    private let configuration: Configuration
    private let log: DeliveryLog
    private let metrics: NotificationMetrics
    private let logger: Logger
    /// A group waiting, and whom to tell how it went.
    private struct Queued: Sendable {
        let group: AlertGroup
        let done: @Sendable (Bool) async -> Void
    }

    private let queue: AsyncStream<Queued>.Continuation
    /// How many groups wait, shared with the worker.
    private final class Waiting: Sendable {
        let count = Atomic<Int>(0)
    }

    private let waiting = Waiting()
    private let worker = Mutex<Task<Void, Never>?>(nil)

    /// `prepare` builds what is sent for a group (thrown errors fail the group without an attempt); `attempt`
    /// sends it once.
    init(_ configuration: Configuration, log: DeliveryLog, metrics: NotificationMetrics, logger: Logger,
         prepare: @escaping @Sendable (AlertGroup) throws -> Prepared,
         attempt: @escaping @Sendable (Prepared) async -> DeliveryAttempt) {
        self.configuration = configuration
        self.log = log
        self.metrics = metrics
        self.logger = logger
        metrics.started(receiver: configuration.receiver, integration: configuration.integration)
        let (stream, continuation) = AsyncStream.makeStream(of: Queued.self, bufferingPolicy: .bufferingNewest(configuration.capacity))
        queue = continuation
        worker.withLock { worker in
            worker = Task { [waiting] in
                for await queued in stream {
                    metrics.queued(receiver: configuration.receiver, waiting.count.subtract(1, ordering: .relaxed).newValue)
                    // Once stopped, what is left is told it was not delivered, so its group is notified again later.
                    let delivered = Task.isCancelled ? false
                        : await Self.send(queued.group, configuration: configuration, log: log, metrics: metrics, logger: logger,
                                          prepare: prepare, attempt: attempt)
                    await queued.done(delivered)
                }
            }
        }
    }

    /// Queues `group`; returns at once. `done` is told whether it was delivered in the end.
    func enqueue(_ group: AlertGroup, whenDone done: @escaping @Sendable (Bool) async -> Void) async throws -> NotificationReceipt {
        switch queue.yield(Queued(group: group, done: done)) {
        case .dropped(let oldest):
            metrics.dropped(receiver: configuration.receiver)
            try? await Self.record(oldest.group, configuration: configuration, log: log, attempt: 0, outcome: "dropped",
                                   result: DeliveryAttempt(failure: "the queue of \(configuration.capacity) was full"), seconds: nil)
            await oldest.done(false)
        case .enqueued:
            metrics.queued(receiver: configuration.receiver, waiting.count.add(1, ordering: .relaxed).newValue)
        case .terminated:
            throw ServiceError(.unavailable, "receiver_stopped", "receiver \(configuration.receiver) was replaced or stopped")
        @unknown default:
            break
        }
        return .queued
    }

    /// Stops sending; what is queued is left.
    func stop() {
        queue.finish()
        worker.withLock { $0?.cancel() }
    }

    deinit {
        stop()
    }

    /// Whether `group` was delivered.
    private static func send(_ group: AlertGroup, configuration: Configuration, log: DeliveryLog, metrics: NotificationMetrics, logger: Logger,
                             prepare: @Sendable (AlertGroup) throws -> Prepared, attempt: @Sendable (Prepared) async -> DeliveryAttempt) async -> Bool {
        let prepared: Prepared
        do {
            prepared = try prepare(group)
        } catch {
            try? await record(group, configuration: configuration, log: log, attempt: 1, outcome: "failed",
                              result: DeliveryAttempt(failure: "\(error)"), seconds: nil)
            metrics.finished(receiver: configuration.receiver, integration: configuration.integration, outcome: "failed")
            return false
        }
        let deadline = ContinuousClock.now + configuration.retry.deadline
        var random = SystemRandomNumberGenerator()
        var number = 0
        while !Task.isCancelled {
            number += 1
            let started = ContinuousClock.now
            let result = await attempt(prepared)
            let seconds = started.duration(to: .now).secondsValue
            metrics.attempted(integration: configuration.integration, seconds: seconds)
            let delay = configuration.retry.delay(after: number, retryAfter: result.retryAfter, random: &random)
            let again = result.failure != nil && result.retryable && ContinuousClock.now + delay < deadline
            let outcome = result.failure == nil ? "delivered" : again ? "retrying" : "failed"
            do {
                try await record(group, configuration: configuration, log: log, attempt: number, outcome: outcome, result: result, seconds: seconds)
            } catch {
                logger.warning("notification attempt not logged", metadata: ["receiver": "\(configuration.receiver)", "error": "\(error)"])
            }
            guard again else {
                metrics.finished(receiver: configuration.receiver, integration: configuration.integration,
                                 outcome: result.failure == nil ? "delivered" : "failed")
                if let failure = result.failure {
                    logger.warning("notification not delivered", metadata: [
                        "receiver": "\(configuration.receiver)", "group": "\(group.key)", "error": "\(failure)"])
                }
                return result.failure == nil
            }
            try? await Task.sleep(for: delay)
        }
        return false
    }

    private static func record(_ group: AlertGroup, configuration: Configuration, log: DeliveryLog, attempt: Int, outcome: String,
                               result: DeliveryAttempt, seconds: Double?) async throws {
        let http = configuration.integration == "webhook"
        try await log.append(.init(id: nil, receiver: configuration.receiver, integration: configuration.integration, groupKey: group.key,
                                   status: group.status.rawValue, attempt: attempt, outcome: outcome, httpStatus: http ? result.reply : nil,
                                   smtpReply: http ? nil : result.reply, error: result.failure, durationSeconds: seconds, at: Date()))
    }
}
