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

/// What a receiver is given: one aggregation group's alerts, as Alertmanager sends a group (the stream
/// manager, which acts at once, is given each alert as a group of its own).
public struct AlertGroup: Sendable, Equatable {
    /// The receiver it goes to.
    public var receiver: String
    /// Alertmanager's group key: the route's key and the group labels, `{}/{severity="page"}:{tenant="a"}`.
    public var key: String
    /// The values of the route's `group_by` labels shared by the group's alerts.
    public var labels: [String: String]
    /// Firing alerts first, then resolved ones; each by start time and fingerprint.
    public var alerts: [AlertNotification]

    public init(receiver: String, key: String, labels: [String: String], alerts: [AlertNotification]) {
        self.receiver = receiver
        self.key = key
        self.labels = labels
        self.alerts = alerts.sorted { ($0.status == .firing ? 0 : 1, $0.startsAt, $0.fingerprint) < ($1.status == .firing ? 0 : 1, $1.startsAt, $1.fingerprint) }
    }

    /// Firing while any of its alerts fires.
    public var status: AlertNotification.Status { alerts.contains { $0.status == .firing } ? .firing : .resolved }
    public var firing: [AlertNotification] { alerts.filter { $0.status == .firing } }
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
    /// Whether it takes each alert at once, outside the routes' grouping and timing (the stream manager's
    /// actions must not wait for `group_wait`); otherwise it is given groups when they flush.
    var immediate: Bool { get }
    /// Whether it is sent resolved alerts (Alertmanager's `send_resolved`).
    var sendResolved: Bool { get }
    /// Delivers or queues `group`, and calls `done` once with whether it was delivered in the end (a queued
    /// group: when its attempts are over); throws, without calling `done`, when it could take nothing.
    func deliver(_ group: AlertGroup, whenDone done: @escaping @Sendable (_ delivered: Bool) async -> Void) async throws
        -> NotificationReceipt
    /// Stops a receiver a reload replaced.
    func stop()
}
