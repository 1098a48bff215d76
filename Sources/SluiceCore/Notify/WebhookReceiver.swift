import Crypto
import Foundation
import Logging

/// A receiver posting Alertmanager's webhook payload (version 4) over HTTP(S): what receives Alertmanager's
/// webhooks receives Sluice's. Groups wait in a bounded ``DeliveryQueue`` of their own and are posted one
/// after the other with retries, so a slow or dead receiver delays only itself, never the evaluation.
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
    public let immediate = false
    public var sendResolved: Bool { configuration.sendResolved }
    let configuration: Configuration
    private let queue: DeliveryQueue<OutboundRequest>

    public init(configuration: Configuration, http: any OutboundHTTP, log: DeliveryLog, metrics: NotificationMetrics,
                externalURL: String, logger: Logger) {
        name = configuration.name
        self.configuration = configuration
        queue = DeliveryQueue(.init(receiver: configuration.name, integration: integration, capacity: configuration.queueCapacity,
                                    retry: configuration.retry),
                              log: log, metrics: metrics, logger: logger,
                              prepare: { try Self.request(for: $0, configuration: configuration, externalURL: externalURL) },
                              attempt: { request in
                                  do throws(OutboundError) {
                                      let response = try await http.post(request)
                                      guard !(200...299).contains(response.status) else { return DeliveryAttempt(reply: response.status) }
                                      return DeliveryAttempt(reply: response.status,
                                                             failure: "HTTP \(response.status): " + String(decoding: response.body.prefix(300), as: UTF8.self),
                                                             retryable: RetryPolicy.isRetryable(status: response.status),
                                                             retryAfter: RetryPolicy.retryAfter(response.headers["retry-after"]))
                                  } catch {
                                      return DeliveryAttempt(failure: error.description, retryable: RetryPolicy.isRetryable(error))
                                  }
                              })
    }

    /// Queues `group`; the evaluation goes on at once.
    public func deliver(_ group: AlertGroup, whenDone done: @escaping @Sendable (Bool) async -> Void) async throws -> NotificationReceipt {
        try await queue.enqueue(group, whenDone: done)
    }

    /// Stops sending (when a reload replaces the receiver); what is queued is left.
    public func stop() {
        queue.stop()
    }

    /// The request for `group`: the payload, its type, authentication and signature.
    static func request(for group: AlertGroup, configuration: Configuration, externalURL: String) throws -> OutboundRequest {
        let payload = AlertmanagerPayload.outgoing(group.alerts, receiver: configuration.name, groupLabels: group.labels, groupKey: group.key,
                                                   externalURL: externalURL, maxAlerts: configuration.maxAlerts)
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
}
