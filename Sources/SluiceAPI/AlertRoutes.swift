import Foundation
import SluiceCore
import SluiceHTTP

/// The monitor's API: current alerts and their history, rules and their reloads, the delivery log of
/// notifications, and the inbound Alertmanager webhook.
public struct AlertRoutes: Sendable {
    private let monitor: Monitor
    private let deliveries: DeliveryLog
    private let auth: Authenticator
    /// A bearer token, besides the admin token, that may post Alertmanager payloads.
    private let webhookToken: String?

    public init(monitor: Monitor, deliveries: DeliveryLog, auth: Authenticator, webhookToken: String?) {
        self.monitor = monitor
        self.deliveries = deliveries
        self.auth = auth
        self.webhookToken = webhookToken
    }

    /// Alertmanager payloads are small; a thousand alerts fit easily.
    static let maximumPayloadBytes = 4 << 20

    public var routes: [Route] {
        [
            Route(.get, "/api/v1/alerts", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let alerts = try await monitor.store.active(tenant: request.query["tenant"])
                    return .json(["alerts": alerts.map(AlertBody.init)])
                }
            }),
            Route(.get, "/api/v1/alerts/history", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let (from, to) = try ReportRoutes.window(request)
                    let limit = try request.integer("limit", in: 1...10_000, default: 1000)
                    let events = try await monitor.store.history(from: from, to: to, tenant: request.query["tenant"], limit: limit)
                    return .json(["events": events.map(AlertBody.init)])
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/alerts", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    return .json(["alerts": try await monitor.store.active(tenant: tenant).map(AlertBody.init)])
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/alerts/history", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let (from, to) = try ReportRoutes.window(request)
                    let limit = try request.integer("limit", in: 1...10_000, default: 1000)
                    let events = try await monitor.store.history(from: from, to: to, tenant: tenant, limit: limit)
                    return .json(["events": events.map(AlertBody.init)])
                }
            }),
            Route(.get, "/api/v1/notifications", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let (from, to) = try ReportRoutes.window(request)
                    let limit = try request.integer("limit", in: 1...10_000, default: 1000)
                    return .json(["attempts": try await deliveries.list(receiver: request.query["receiver"], from: from, to: to, limit: limit)])
                }
            }),
            Route(.get, "/api/v1/rules", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    return .json(["rules": monitor.rules.rules.map(RuleBody.init)])
                }
            }),
            Route(.post, "/api/v1/rules/reload", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let loaded = try await monitor.reloadOffThePool()
                    return .json(["rules": loaded.rules.map(RuleBody.init)])
                }
            }),
            Route(.post, "/api/v1/alerts/webhook", .streaming { request, body in
                try await answering {
                    let bearer = request.headers["Authorization"].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
                    if let webhookToken, let bearer, APIKey.constantTimeEquals(bearer, webhookToken) {
                        // The configured webhook token.
                    } else {
                        try auth.requireAdmin(request)
                    }
                    let bytes: [UInt8]
                    do {
                        bytes = try await body.collect(upTo: Self.maximumPayloadBytes)
                    } catch {
                        throw ServiceError(.tooLarge, "request_too_large", "an Alertmanager payload holds at most \(Self.maximumPayloadBytes) bytes")
                    }
                    return .json(try await monitor.receive(payload: bytes))
                }
            }),
        ]
    }

    /// A rule in force as `GET /api/v1/rules` shows it.
    private struct RuleBody: Encodable {
        let name: String
        let kind: String
        let file: String

        init(_ rule: MonitorRule) {
            name = rule.name
            if case .threshold = rule.condition { kind = "threshold" } else { kind = "slo" }
            file = rule.file
        }
    }

    /// An alert as `GET /api/v1/alerts` shows it, or one of its transitions as the history does (with `at`,
    /// the transition's time, instead of `fired_at`).
    private struct AlertBody: Encodable {
        let name: String
        let tenant: String?
        let state: String
        let labels: [String: String]
        let annotations: [String: String]
        let value: Double?
        let activeAt: Date
        let fingerprint: String
        /// An alert's firing time (nil: pending), or a transition's time.
        let firedAt: Date?
        let at: Date?

        init(_ alert: ActiveAlert) {
            self.init(alert, state: alert.state.rawValue, firedAt: alert.firedAt, at: nil)
        }

        init(_ event: AlertStore.Event) {
            self.init(event.alert, state: event.state, firedAt: nil, at: event.at)
        }

        private init(_ alert: ActiveAlert, state: String, firedAt: Date?, at: Date?) {
            name = alert.labels["alertname"] ?? alert.rule
            tenant = alert.tenant
            self.state = state
            labels = alert.labels
            annotations = alert.annotations
            value = alert.value.flatMap { $0.isFinite ? $0 : nil }
            activeAt = alert.activeAt
            fingerprint = alert.fingerprint
            self.firedAt = firedAt
            self.at = at
        }

        enum CodingKeys: String, CodingKey {
            case name, tenant, state, labels, annotations, value, fingerprint, at
            case activeAt = "active_at", firedAt = "fired_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(tenant, forKey: .tenant)
            try container.encode(state, forKey: .state)
            try container.encode(labels, forKey: .labels)
            try container.encode(annotations, forKey: .annotations)
            try container.encode(value, forKey: .value)
            try container.encode(activeAt, forKey: .activeAt)
            try container.encode(fingerprint, forKey: .fingerprint)
            if let at {
                try container.encode(at, forKey: .at)
            } else {
                try container.encode(firedAt, forKey: .firedAt)
            }
        }
    }
}
