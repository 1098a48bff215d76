import Foundation
import SluiceCore
import SluiceHTTP

/// The monitor's API: current alerts and their history, rule reloads, and the inbound Alertmanager webhook.
public struct AlertRoutes: Sendable {
    private let monitor: Monitor
    private let auth: Authenticator
    /// A bearer token, besides the admin token, that may post Alertmanager payloads.
    private let webhookToken: String?

    public init(monitor: Monitor, auth: Authenticator, webhookToken: String?) {
        self.monitor = monitor
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
                    return .json(["events": events.map(EventBody.init)])
                }
            }),
            Route(.post, "/api/v1/rules/reload", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let loaded = try monitor.reload()
                    return .json(["rules": loaded.rules.count])
                }
            }),
            Route(.post, "/api/v1/alerts/webhook", .streaming { request, body in
                try await answering {
                    if let webhookToken, request.headers["Authorization"] == "Bearer \(webhookToken)" {
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

    /// An alert as `GET /api/v1/alerts` shows it.
    private struct AlertBody: Encodable {
        let name: String
        let tenant: String?
        let state: String
        let labels: [String: String]
        let annotations: [String: String]
        let value: Double?
        let activeAt: Date
        let firedAt: Date?
        let fingerprint: String

        init(_ alert: ActiveAlert) {
            name = alert.labels["alertname"] ?? alert.rule
            tenant = alert.tenant
            state = alert.state.rawValue
            labels = alert.labels
            annotations = alert.annotations
            value = alert.value.flatMap { $0.isFinite ? $0 : nil }
            activeAt = alert.activeAt
            firedAt = alert.firedAt
            fingerprint = alert.fingerprint
        }

        enum CodingKeys: String, CodingKey {
            case name, tenant, state, labels, annotations, value, fingerprint
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
            try container.encode(firedAt, forKey: .firedAt)
            try container.encode(fingerprint, forKey: .fingerprint)
        }
    }

    /// A transition as `GET /api/v1/alerts/history` shows it.
    private struct EventBody: Encodable {
        let name: String
        let tenant: String?
        let state: String
        let labels: [String: String]
        let annotations: [String: String]
        let value: Double?
        let activeAt: Date
        let at: Date

        init(_ event: AlertStore.Event) {
            name = event.alert.labels["alertname"] ?? event.alert.rule
            tenant = event.alert.tenant
            state = event.state
            labels = event.alert.labels
            annotations = event.alert.annotations
            value = event.alert.value.flatMap { $0.isFinite ? $0 : nil }
            activeAt = event.alert.activeAt
            at = event.at
        }

        enum CodingKeys: String, CodingKey {
            case name, tenant, state, labels, annotations, value, at
            case activeAt = "active_at"
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
            try container.encode(at, forKey: .at)
        }
    }
}
