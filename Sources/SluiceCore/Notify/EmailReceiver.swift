import Foundation
import Logging

/// A receiver sending each notification group as an email through an SMTP server (plain, STARTTLS or
/// implicit TLS, optionally authenticated), with the webhooks' bounded queue and retry policy: a server's
/// `4xx` reply or a lost connection is retried, a `5xx` reply is not.
public final class EmailReceiver: NotificationReceiver {
    public struct Configuration: Sendable, Equatable {
        public var name: String
        /// `host:port` of the SMTP server.
        public var smarthost: String
        public var from: EmailAddress
        public var to: [EmailAddress]
        /// Implicit TLS from the first byte (SMTPS); by default when the port is 465.
        public var implicitTLS: Bool
        /// Without implicit TLS: send only after STARTTLS succeeded (Alertmanager's `require_tls`, on by default).
        public var requireTLS = true
        public var authUsername: String?
        public var authPassword: String?
        /// The domain given in `EHLO`; libcurl's default (this host's name) when nil.
        public var hello: String?
        public var subject = EmailMessage.defaultSubject
        public var timeout: Duration = .seconds(30)
        public var verifyTLS = true
        public var caFile: String?
        /// Off by default, as in Alertmanager's email receiver.
        public var sendResolved = false
        public var queueCapacity = 1000
        public var retry = RetryPolicy()

        public init(name: String, smarthost: String, from: EmailAddress, to: [EmailAddress]) {
            self.name = name
            self.smarthost = smarthost
            self.from = from
            self.to = to
            implicitTLS = smarthost.hasSuffix(":465")
        }

        /// The server's URL for libcurl.
        var url: String {
            (implicitTLS ? "smtps://" : "smtp://") + smarthost + (hello.map { "/" + $0 } ?? "")
        }
    }

    public let name: String
    public let integration = "email"
    public let immediate = false
    public var sendResolved: Bool { configuration.sendResolved }
    let configuration: Configuration
    private let queue: DeliveryQueue<OutboundMail>

    public init(configuration: Configuration, mailer: any OutboundMailer, log: DeliveryLog, metrics: NotificationMetrics,
                externalURL: String, logger: Logger) {
        name = configuration.name
        self.configuration = configuration
        queue = DeliveryQueue(.init(receiver: configuration.name, integration: integration, capacity: configuration.queueCapacity,
                                    retry: configuration.retry),
                              log: log, metrics: metrics, logger: logger,
                              prepare: { Self.mail(for: $0, configuration: configuration, externalURL: externalURL, at: Date()) },
                              attempt: { mail in
                                  do throws(OutboundError) {
                                      return DeliveryAttempt(reply: try await mailer.send(mail))
                                  } catch {
                                      return DeliveryAttempt(reply: error.reply, failure: error.description, retryable: RetryPolicy.isRetryable(error))
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

    /// The email for `group`, composed once so its retries carry the same `Message-ID`.
    static func mail(for group: AlertGroup, configuration: Configuration, externalURL: String, at date: Date) -> OutboundMail {
        let message = EmailMessage.compose(group, from: configuration.from, to: configuration.to, subject: configuration.subject,
                                           externalURL: externalURL, date: date, messageID: UUID().uuidString.lowercased())
        return OutboundMail(url: configuration.url, requireTLS: configuration.requireTLS && !configuration.implicitTLS,
                            username: configuration.authUsername, password: configuration.authPassword, from: configuration.from.address,
                            recipients: configuration.to.map(\.address), message: message, timeout: configuration.timeout,
                            verifyTLS: configuration.verifyTLS, caFile: configuration.caFile)
    }
}

/// A receiver of `notifications.yaml` that sends out, as configured: a webhook or an email.
public enum ReceiverIntegration: Sendable, Equatable {
    case webhook(WebhookReceiver.Configuration)
    case email(EmailReceiver.Configuration)

    public var name: String {
        switch self {
        case .webhook(let configuration): configuration.name
        case .email(let configuration): configuration.name
        }
    }
}
