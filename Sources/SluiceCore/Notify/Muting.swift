import Foundation

/// An inhibition rule as Alertmanager writes it: while an alert matching `source_matchers` fires, alerts
/// matching `target_matchers` with the same values of the `equal` labels are muted (e.g. a tenant's firing
/// `severity="page"` alert mutes its `ticket` ones).
public struct InhibitRule: Sendable, Equatable {
    public var sourceMatchers: [LabelMatcher]
    public var targetMatchers: [LabelMatcher]
    public var equal: [String]

    /// Whether an alert labelled `target` is muted while alerts labelled `firing` fire.
    func inhibits(_ target: [String: String], firing: [[String: String]]) -> Bool {
        guard targetMatchers.allSatisfy({ $0.matches(target) }) else { return false }
        return firing.contains { source in
            source != target && sourceMatchers.allSatisfy { $0.matches(source) } && equal.allSatisfy { source[$0] == target[$0] }
        }
    }
}

/// What mutes notifications at one moment: the active silences, and the inhibition rules given what fires.
struct Muting: Sendable {
    let silences: [Silence]
    let inhibitRules: [InhibitRule]
    /// The label sets of the alerts firing now.
    let firing: [[String: String]]
    let time: Date

    /// Why a notification is muted (the `reason` label of `sluice_notifications_muted_total`).
    enum Reason: String, CaseIterable {
        case silence, inhibition
    }

    /// Why `notification` is muted, or nil when it is not. Resolutions are never inhibited.
    func reason(for notification: AlertNotification) -> Reason? {
        if silences.contains(where: { $0.mutes(notification.labels, at: time) }) { return .silence }
        if notification.status == .firing, inhibitRules.contains(where: { $0.inhibits(notification.labels, firing: firing) }) {
            return .inhibition
        }
        return nil
    }
}
