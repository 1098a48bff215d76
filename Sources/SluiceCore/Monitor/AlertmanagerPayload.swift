import Foundation

/// An Alertmanager webhook payload (version 4), as `POST /api/v1/alerts/webhook` takes it.
struct AlertmanagerPayload: Decodable {
    struct Alert: Decodable {
        let status: String
        let labels: [String: String]
        let annotations: [String: String]?
        let startsAt: String?
        let endsAt: String?
        let fingerprint: String?
    }

    let version: String
    let alerts: [Alert]

    /// At most this many alerts per payload.
    static let maximumAlerts = 1000

    /// The stream action an inbound alert asks for with its labels `sluice_action` (`scale_up`, `scale_down`,
    /// `throttle`, `resume`), `sluice_by` (default 1), `sluice_rate` and `sluice_for` (throttle; seconds,
    /// default 300); nil without `sluice_action`. Throws `invalid_alert` naming what is wrong.
    static func action(_ labels: [String: String]) throws(ServiceError) -> StreamAction? {
        guard let name = labels["sluice_action"] else { return nil }
        func number(_ key: String) throws(ServiceError) -> Double? {
            guard let text = labels[key] else { return nil }
            guard let value = Double(text), value.isFinite else {
                throw ServiceError(.unprocessable, "invalid_alert", "label \(key)=\"\(text)\" is not a number")
            }
            return value
        }
        switch name {
        case "scale_up", "scale_down":
            return try StreamAction(name: name, parameters: ["by": try number("sluice_by") ?? 1])
        case "throttle":
            guard let rate = try number("sluice_rate") else {
                throw ServiceError(.unprocessable, "invalid_alert", "sluice_action=\"throttle\" needs the label sluice_rate (messages per second)")
            }
            return try StreamAction(name: name, parameters: ["messages_per_second": rate, "for_seconds": try number("sluice_for") ?? 300])
        case "resume":
            return .resume
        default:
            throw ServiceError(.unprocessable, "invalid_alert",
                               "label sluice_action=\"\(name)\" is not one of scale_up, scale_down, throttle, resume")
        }
    }

    /// What undoes `action` when its alert resolves: scaling back, or lifting a throttle.
    static func undoing(_ action: StreamAction) -> StreamAction? {
        switch action {
        case .scaleUp(let by): .scaleDown(by: by)
        case .scaleDown(let by): .scaleUp(by: by)
        case .throttle: .resume
        case .setDesired, .resume: nil
        }
    }
}
