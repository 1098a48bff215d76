import Crypto
import Foundation

/// An alert as receivers get it, in Alertmanager's terms: what fired or resolved, for whom, and what the
/// rule asks the stream manager to do about it.
public struct AlertNotification: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case firing, resolved
    }

    public var status: Status
    /// Include `alertname` and, for a tenant's alert, `tenant`.
    public var labels: [String: String]
    public var annotations: [String: String]
    public var startsAt: Date
    /// When it resolved; nil while firing.
    public var endsAt: Date?
    public var value: Double?
    /// Where it came from: `alert:<name>` (Sluice's own rules) or `alertmanager:<alertname>` (inbound).
    public var source: String
    /// The stream manager actions to take for this status.
    public var actions: [StreamAction]

    public var name: String { labels["alertname"] ?? "" }
    public var tenant: String? { labels["tenant"] }
    /// 16 hex digits, stable per label set.
    public var fingerprint: String { Self.fingerprint(labels) }

    public init(status: Status, labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date?,
                value: Double?, source: String, actions: [StreamAction]) {
        self.status = status
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.value = value
        self.source = source
        self.actions = actions
    }

    /// A label set's fingerprint: the first 8 bytes of SHA-256 over its sorted `name=value` pairs, in hex.
    static func fingerprint(_ labels: [String: String]) -> String {
        var bytes: [UInt8] = []
        for (name, value) in labels.sorted(by: { $0.key < $1.key }) {
            bytes += Array(name.utf8) + [0xFF] + Array(value.utf8) + [0xFF]
        }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(16)
        for byte in SHA256.hash(data: bytes).prefix(8) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

/// What a receiver did with a notification.
public enum NotificationReceipt: Sendable {
    /// Done (the stream manager's actions applied).
    case delivered
    /// Taken into the receiver's own queue, delivered later (it counts the outcome itself).
    case queued
    /// Not for this receiver (a resolution it does not send).
    case skipped
}

/// Where notifications go: the stream manager, webhooks, email.
public protocol NotificationReceiver: Sendable {
    /// The receiver's name, as routes name it.
    var name: String { get }
    /// Its kind of integration, for the metrics: `stream_manager`, `webhook`, `email`.
    var integration: String { get }
    /// Delivers or queues `notification`; throws when it could not.
    func deliver(_ notification: AlertNotification) async throws -> NotificationReceipt
    /// Stops a receiver a reload replaced.
    func stop()
}
