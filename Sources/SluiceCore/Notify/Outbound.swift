import Foundation

/// An HTTP(S) POST a receiver sends: the domain builds it, a transport (libcurl's, injected) sends it.
public struct OutboundRequest: Sendable {
    public var url: String
    public var headers: [String: String]
    public var body: [UInt8]
    /// The whole exchange, connecting included.
    public var timeout: Duration
    /// Verify the server's certificate (and name) over HTTPS; on unless a receiver turns it off.
    public var verifyTLS: Bool
    /// PEM certificate authorities to verify with instead of the system's.
    public var caFile: String?

    public init(url: String, headers: [String: String], body: [UInt8], timeout: Duration, verifyTLS: Bool = true, caFile: String? = nil) {
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.verifyTLS = verifyTLS
        self.caFile = caFile
    }
}

/// The answer to an ``OutboundRequest``: status, headers (names lowercased) and the start of the body.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Why an ``OutboundRequest`` got no answer, or an ``OutboundMail`` was not accepted.
public struct OutboundError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public var description: String { rawValue }
        /// No connection (refused, unreachable, name not resolved).
        public static let connectionFailed = Code(rawValue: "connection_failed")
        public static let timedOut = Code(rawValue: "timed_out")
        /// The TLS handshake or the server's certificate failed.
        public static let tlsFailed = Code(rawValue: "tls_failed")
        /// The request cannot be sent at all (a bad URL, an unsupported scheme): retrying cannot help.
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// The mail server refused for now (an SMTP `4xx` reply): worth another attempt.
        public static let deferred = Code(rawValue: "deferred")
        /// The mail server refused for good (an SMTP `5xx` reply, authentication denied).
        public static let rejected = Code(rawValue: "rejected")
    }

    public var code: Code
    public var message: String
    /// The mail server's last reply code, when it answered.
    public var reply: Int?

    public init(_ code: Code, _ message: String, reply: Int? = nil) {
        self.code = code
        self.message = message
        self.reply = reply
    }

    public var description: String { "\(code): \(message)" }
}

/// Sends HTTP(S) POSTs for receivers; never on Swift's cooperative pool.
public protocol OutboundHTTP: Sendable {
    func post(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse
}

/// An email a receiver sends through an SMTP server: the domain composes the message, a transport (libcurl's,
/// injected) delivers it.
public struct OutboundMail: Sendable {
    /// `smtp://host:port` (STARTTLS when `requireTLS`) or `smtps://host:port` (implicit TLS); a path names the
    /// `EHLO` domain.
    public var url: String
    /// Refuse to send unless STARTTLS succeeds.
    public var requireTLS: Bool
    public var username: String?
    public var password: String?
    /// The envelope sender and recipients: bare addresses.
    public var from: String
    public var recipients: [String]
    /// The whole message, headers and body, lines ending in CRLF.
    public var message: [UInt8]
    public var timeout: Duration
    public var verifyTLS: Bool
    public var caFile: String?

    public init(url: String, requireTLS: Bool, username: String?, password: String?, from: String, recipients: [String], message: [UInt8],
                timeout: Duration, verifyTLS: Bool = true, caFile: String? = nil) {
        self.url = url
        self.requireTLS = requireTLS
        self.username = username
        self.password = password
        self.from = from
        self.recipients = recipients
        self.message = message
        self.timeout = timeout
        self.verifyTLS = verifyTLS
        self.caFile = caFile
    }
}

/// Sends emails for receivers; never on Swift's cooperative pool. Returns the server's final reply code.
public protocol OutboundMailer: Sendable {
    func send(_ mail: OutboundMail) async throws(OutboundError) -> Int
}
