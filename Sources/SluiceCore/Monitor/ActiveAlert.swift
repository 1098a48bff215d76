import Foundation

/// An alert that is pending or firing: a row of `sluice.alerts`, and the state machine that moves it.
public struct ActiveAlert: Sendable, Equatable {
    public enum State: String, Sendable, Codable {
        case pending, firing
    }

    /// What an evaluation did to an alert.
    enum Transition: String, Sendable {
        /// Nothing changed state (the value and times may have).
        case none
        /// The condition began to hold; it must hold for `for` before firing.
        case pending
        case firing
        /// It stopped firing (after `keep_firing_for`).
        case resolved
        /// It stopped pending without having fired.
        case inactive

        /// Whether receivers hear of it.
        var notifies: Bool { self == .firing || self == .resolved }
    }

    public var rule: String
    public var fingerprint: String
    public var tenant: String?
    public var labels: [String: String]
    public var annotations: [String: String]
    public var state: State
    public var value: Double?
    /// When the condition began to hold.
    public var activeAt: Date
    public var firedAt: Date?
    /// The first evaluation at which a firing alert's condition no longer held: it keeps firing until
    /// `keep_firing_for` has passed since (Prometheus's rule); nil while the condition holds.
    public var keepFiringSince: Date?
    public var evaluatedAt: Date

    /// The next state of `current` after an evaluation at `time` found the condition to hold (`true`), not to
    /// hold (`false`), or could not tell and keeps the state (`nil`); `make` builds a new alert. Wall-clock
    /// times are kept, so a restart resumes where the last evaluation left off.
    static func next(_ current: ActiveAlert?, holds: Bool?, at time: Date, pendingFor: Int, keepFiringFor: Int,
                     make: () -> ActiveAlert) -> (ActiveAlert?, Transition) {
        guard let holds else {
            guard var current else { return (nil, .none) }
            current.evaluatedAt = time
            return (current, .none)
        }
        if holds {
            var alert = current ?? make()
            alert.evaluatedAt = time
            alert.keepFiringSince = nil
            if current == nil { alert.activeAt = time }
            if alert.state == .firing { return (alert, .none) }
            if time.timeIntervalSince(alert.activeAt) >= Double(pendingFor) {
                alert.state = .firing
                alert.firedAt = time
                return (alert, .firing)
            }
            alert.state = .pending
            return (alert, current == nil ? .pending : .none)
        }
        guard var current else { return (nil, .none) }
        switch current.state {
        case .pending:
            return (nil, .inactive)
        case .firing:
            let since = current.keepFiringSince ?? time
            if time.timeIntervalSince(since) < Double(keepFiringFor) {
                current.keepFiringSince = since
                current.evaluatedAt = time
                return (current, .none)
            }
            return (nil, .resolved)
        }
    }
}
