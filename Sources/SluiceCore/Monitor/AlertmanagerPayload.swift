import Foundation

/// An Alertmanager webhook payload, version 4, field for field: what `POST /api/v1/alerts/webhook` takes, and
/// what webhook receivers send (so whatever reads Alertmanager's reads Sluice's). Taken in, only `version` and
/// the alerts' `status` and `labels` are required.
struct AlertmanagerPayload: Codable {
    struct Alert: Codable {
        var status: String
        var labels: [String: String]
        var annotations: [String: String]?
        /// RFC 3339; `endsAt` is `0001-01-01T00:00:00Z` while the alert fires, as Alertmanager sends it.
        var startsAt: String?
        var endsAt: String?
        var generatorURL: String?
        /// 16 hex digits, stable per label set.
        var fingerprint: String?
    }

    var version: String
    var groupKey: String?
    var truncatedAlerts: Int?
    var status: String?
    var receiver: String?
    var groupLabels: [String: String]?
    var commonLabels: [String: String]?
    var commonAnnotations: [String: String]?
    var externalURL: String?
    var alerts: [Alert]

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

    /// The zero time Alertmanager sends as a firing alert's `endsAt`.
    static let zeroTime = "0001-01-01T00:00:00Z"

    /// Times as Alertmanager writes them: RFC 3339 with milliseconds, UTC.
    static func time(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true)
            .timeSeparator(.colon).timeZone(separator: .omitted))
    }

    /// The payload a webhook receiver `receiver` sends for `alerts` (one group, labelled `groupLabels`): the
    /// group is firing while any alert fires; at most `maxAlerts` alerts (0: all), the rest counted in
    /// `truncatedAlerts`, as Alertmanager truncates.
    static func outgoing(_ alerts: [AlertNotification], receiver: String, groupLabels: [String: String], groupKey: String,
                         externalURL: String, maxAlerts: Int) -> AlertmanagerPayload {
        let kept = maxAlerts > 0 ? Array(alerts.prefix(maxAlerts)) : alerts
        let base = externalURL.hasSuffix("/") ? String(externalURL.dropLast()) : externalURL
        return AlertmanagerPayload(
            version: "4", groupKey: groupKey, truncatedAlerts: alerts.count - kept.count,
            status: alerts.contains { $0.status == .firing } ? "firing" : "resolved", receiver: receiver, groupLabels: groupLabels,
            commonLabels: common(alerts.map(\.labels)), commonAnnotations: common(alerts.map(\.annotations)), externalURL: externalURL,
            alerts: kept.map { alert in
                Alert(status: alert.status.rawValue, labels: alert.labels, annotations: alert.annotations,
                      startsAt: time(alert.startsAt), endsAt: alert.endsAt.map(time) ?? zeroTime,
                      generatorURL: generatorURL(for: alert, base: base), fingerprint: alert.fingerprint)
            })
    }

    /// The pairs every one of `maps` holds (Alertmanager's common labels and annotations).
    static func common(_ maps: [[String: String]]) -> [String: String] {
        guard var shared = maps.first else { return [:] }
        for map in maps.dropFirst() { shared = shared.filter { map[$0.key] == $0.value } }
        return shared
    }

    /// Where an alert can be looked into: the alert history (of its tenant) at `base`, the external URL.
    static func generatorURL(for alert: AlertNotification, base: String) -> String {
        let tenant = alert.tenant.map { "&tenant=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
        return "\(base)/api/v1/alerts/history?limit=100\(tenant)"
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
