import Crypto
import Foundation
import Logging
import SluiceCommon
import Synchronization

/// A receiver posting Alertmanager's webhook payload (version 4) over HTTP(S): what receives Alertmanager's
/// webhooks receives Sluice's. Notifications wait in a bounded queue of their own (the oldest dropped, and
/// counted, when it is full) and are sent one after the other with retries, so a slow or dead receiver delays
/// only itself, never the evaluation.
public final class WebhookReceiver: NotificationReceiver {
    public struct Configuration: Sendable, Equatable {
        public var name: String
        public var url: String
        public var timeout: Duration = .seconds(10)
        public var bearerToken: String?
        public var basicAuth: (username: String, password: String)? {
            get { basicAuthPair.map { ($0[0], $0[1]) } }
            set { basicAuthPair = newValue.map { [$0.username, $0.password] } }
        }
        private var basicAuthPair: [String]?
        /// Signs each body: `X-Sluice-Signature: sha256=<hex HMAC-SHA256 of the body>`.
        public var signatureSecret: String?
        public var verifyTLS = true
        public var caFile: String?
        /// Alerts per payload at most (0: all); the rest are counted in `truncatedAlerts`.
        public var maxAlerts = 0
        public var sendResolved = true
        public var queueCapacity = 1000
        public var retry = RetryPolicy()

        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }
    }

    public let name: String
    public let integration = "webhook"
    let configuration: Configuration
    private let http: any OutboundHTTP
    private let log: DeliveryLog
    private let metrics: NotificationMetrics
    private let externalURL: String
    private let logger: Logger
    private let queue: AsyncStream<AlertNotification>.Continuation
    private let waiting = Atomic<Int>(0)
    private let worker = Mutex<Task<Void, Never>?>(nil)

    public init(configuration: Configuration, http: any OutboundHTTP, log: DeliveryLog, metrics: NotificationMetrics,
                externalURL: String, logger: Logger) {
        name = configuration.name
        self.configuration = configuration
        self.http = http
        self.log = log
        self.metrics = metrics
        self.externalURL = externalURL
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: AlertNotification.self,
                                                             bufferingPolicy: .bufferingNewest(configuration.queueCapacity))
        queue = continuation
        worker.withLock { worker in
            worker = Task { [self] in
                for await notification in stream {
                    metrics.queued(receiver: name, waiting.subtract(1, ordering: .relaxed).newValue)
                    await send(notification)
                }
            }
        }
    }

    /// Queues `notification`; the evaluation goes on at once.
    public func deliver(_ notification: AlertNotification) async throws -> NotificationReceipt {
        guard notification.status == .firing || configuration.sendResolved else { return .skipped }
        switch queue.yield(notification) {
        case .dropped(let oldest):
            metrics.dropped(receiver: name)
            try? await record(oldest, groupKey: Self.groupKey(oldest), attempt: 0, outcome: "dropped", status: nil,
                              error: "the queue of \(configuration.queueCapacity) was full", seconds: nil)
        case .enqueued:
            metrics.queued(receiver: name, waiting.add(1, ordering: .relaxed).newValue)
        case .terminated:
            throw ServiceError(.unavailable, "receiver_stopped", "receiver \(name) was replaced or stopped")
        @unknown default:
            break
        }
        return .queued
    }

    /// Stops sending (when a reload replaces the receiver); what is queued is left.
    public func stop() {
        queue.finish()
        worker.withLock { $0?.cancel() }
    }

    deinit {
        queue.finish()
        worker.withLock { $0?.cancel() }
    }

    // MARK: Sending

    /// Alertmanager's group key for a group of one alert: its route (`{}`, the root) and group labels.
    static func groupKey(_ notification: AlertNotification) -> String {
        "{}:{" + groupLabels(notification).sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ", ") + "}"
    }

    static func groupLabels(_ notification: AlertNotification) -> [String: String] {
        notification.labels.filter { ["alertname", "tenant"].contains($0.key) }
    }

    /// The request for `notification`: the payload, its type, authentication and signature.
    func request(for notification: AlertNotification) throws -> OutboundRequest {
        let payload = AlertmanagerPayload.outgoing([notification], receiver: name, groupLabels: Self.groupLabels(notification),
                                                   groupKey: Self.groupKey(notification), externalURL: externalURL,
                                                   maxAlerts: configuration.maxAlerts)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Array(try encoder.encode(payload))
        var headers = ["Content-Type": "application/json", "User-Agent": "Sluice"]
        if let token = configuration.bearerToken {
            headers["Authorization"] = "Bearer \(token)"
        } else if let (username, password) = configuration.basicAuth {
            headers["Authorization"] = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        }
        if let secret = configuration.signatureSecret {
            let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
            headers["X-Sluice-Signature"] = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        }
        return OutboundRequest(url: configuration.url, headers: headers, body: body, timeout: configuration.timeout,
                               verifyTLS: configuration.verifyTLS, caFile: configuration.caFile)
    }

    /// Posts `notification` until it is delivered, fails for good, or the deadline passes; logs every attempt.
    private func send(_ notification: AlertNotification) async {
        let groupKey = Self.groupKey(notification)
        let request: OutboundRequest
        do {
            request = try self.request(for: notification)
        } catch {
            try? await record(notification, groupKey: groupKey, attempt: 1, outcome: "failed", status: nil, error: "\(error)", seconds: nil)
            metrics.finished(receiver: name, integration: integration, outcome: "failed")
            return
        }
        let deadline = ContinuousClock.now + configuration.retry.deadline
        var random = SystemRandomNumberGenerator()
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            let started = ContinuousClock.now
            var status: Int?
            var failure: String?
            var retryable = false
            var retryAfter: Duration?
            do {
                let response = try await http.post(request)
                status = response.status
                if !(200...299).contains(response.status) {
                    failure = "HTTP \(response.status): " + String(decoding: response.body.prefix(300), as: UTF8.self)
                    retryable = RetryPolicy.isRetryable(status: response.status)
                    retryAfter = RetryPolicy.retryAfter(response.headers["retry-after"])
                }
            } catch {
                failure = error.description
                retryable = RetryPolicy.isRetryable(error)
            }
            let seconds = started.duration(to: .now).secondsValue
            metrics.attempted(integration: integration, seconds: seconds)
            let delay = configuration.retry.delay(after: attempt, retryAfter: retryAfter, random: &random)
            let again = failure != nil && retryable && ContinuousClock.now + delay < deadline
            let outcome = failure == nil ? "delivered" : again ? "retrying" : "failed"
            do {
                try await record(notification, groupKey: groupKey, attempt: attempt, outcome: outcome, status: status, error: failure,
                                 seconds: seconds)
            } catch {
                logger.warning("notification attempt not logged", metadata: ["receiver": "\(name)", "error": "\(error)"])
            }
            guard again else {
                metrics.finished(receiver: name, integration: integration, outcome: failure == nil ? "delivered" : "failed")
                if let failure {
                    logger.warning("notification not delivered", metadata: ["receiver": "\(name)", "group": "\(groupKey)", "error": "\(failure)"])
                }
                return
            }
            try? await Task.sleep(for: delay)
        }
    }

    private func record(_ notification: AlertNotification, groupKey: String, attempt: Int, outcome: String, status: Int?,
                        error: String?, seconds: Double?) async throws {
        try await log.append(.init(id: nil, receiver: name, integration: integration, groupKey: groupKey, status: notification.status.rawValue,
                                   attempt: attempt, outcome: outcome, httpStatus: status, error: error, durationSeconds: seconds, at: Date()))
    }
}
