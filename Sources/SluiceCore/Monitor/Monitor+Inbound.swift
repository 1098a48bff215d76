import Foundation

/// Alerts from outside: Alertmanager webhook payloads, routed to the same receivers as the monitor's own.
extension Monitor {
    /// Inbound alerts are kept as `alertmanager:<alertname>` alerts, so a repeated notification acts once.
    static let inboundPrefix = "alertmanager:"

    /// What an inbound payload did.
    public struct InboundResult: Sendable, Encodable {
        public var alerts: Int
        /// Alerts that began firing or resolved here (the others were repeats).
        public var transitions: Int
    }

    /// Takes an Alertmanager webhook payload (version 4). Every alert must name an existing `tenant` and a
    /// valid `sluice_action` if any; otherwise nothing changes and `invalid_payload` (400) or
    /// `invalid_alert` / `unknown_tenant` (422) is thrown. A firing alert acts when it begins firing, a
    /// resolved one when it resolves (a scale-up is scaled back down, a throttle lifted).
    public func receive(payload bytes: [UInt8]) async throws -> InboundResult {
        let payload: AlertmanagerPayload
        do {
            payload = try JSONDecoder().decode(AlertmanagerPayload.self, from: Data(bytes))
        } catch {
            throw ServiceError(.invalid, "invalid_payload", "the body is not an Alertmanager webhook payload (version, alerts[] with status and labels)")
        }
        guard payload.version == "4" else {
            throw ServiceError(.invalid, "invalid_payload", "version \"\(payload.version)\" is not supported (Alertmanager sends \"4\")")
        }
        guard payload.alerts.count <= AlertmanagerPayload.maximumAlerts else {
            throw ServiceError(.invalid, "invalid_payload", "a payload holds at most \(AlertmanagerPayload.maximumAlerts) alerts")
        }
        let known = try await tenants.metadata()
        var accepted: [(alert: AlertmanagerPayload.Alert, status: AlertNotification.Status, action: StreamAction?)] = []
        for (index, alert) in payload.alerts.enumerated() {
            guard let status = AlertNotification.Status(rawValue: alert.status) else {
                throw ServiceError(.invalid, "invalid_payload", "alerts[\(index)].status must be firing or resolved")
            }
            guard let alertname = alert.labels["alertname"], !alertname.isEmpty else {
                throw ServiceError(.unprocessable, "invalid_alert", "alerts[\(index)] has no alertname label")
            }
            guard let tenant = alert.labels["tenant"] else {
                throw ServiceError(.unprocessable, "invalid_alert", "alerts[\(index)] (\(alertname)) has no tenant label")
            }
            guard known[tenant] != nil else {
                throw ServiceError(.unprocessable, "unknown_tenant", "alerts[\(index)] (\(alertname)) names tenant \"\(tenant)\", which does not exist")
            }
            do {
                accepted.append((alert, status, try AlertmanagerPayload.action(alert.labels)))
            } catch {
                throw ServiceError(.unprocessable, error.code, "alerts[\(index)] (\(alertname)): \(error.message)")
            }
        }
        var transitions = 0
        let now = self.now()
        let configuration = rules
        let muting = try await muting(configuration)
        for (alert, status, action) in accepted {
            let alertname = alert.labels["alertname"] ?? ""
            let key = AlertKey(rule: Self.inboundPrefix + alertname, fingerprint: AlertNotification.fingerprint(alert.labels))
            let actions = status == .firing ? action.map { [$0] } : action.flatMap(AlertmanagerPayload.undoing).map { [$0] }
            let (immediate, grouped) = destinations(for: alert.labels, route: configuration.route)
            @Sendable func notification(startingAt starts: Date) -> AlertNotification {
                AlertNotification(status: status, labels: alert.labels, annotations: alert.annotations ?? [:], startsAt: starts,
                                  endsAt: status == .resolved ? now : nil, value: nil, source: Self.inboundPrefix + alertname,
                                  actions: actions ?? [])
            }
            // The transition and the groups it joins are written together: a retried request finds both or neither.
            guard let starts = try await store.recordInbound(key, labels: alert.labels, annotations: alert.annotations ?? [:],
                                                             firing: status == .firing, at: now, then: { connection, starts in
                try NotificationGroups.add(notification(startingAt: starts), to: grouped, at: now, on: connection)
            }) else { continue }
            transitions += 1
            await deliverNow(notification(startingAt: starts), to: immediate, muting: muting)
        }
        return InboundResult(alerts: accepted.count, transitions: transitions)
    }
}
