import Foundation
import SluiceStore

/// Alert state and history in the store: `sluice.alerts` (pending and firing) and `sluice.alert_history`
/// (every transition; firing and resolved ones double as the outbox of notifications).
public struct AlertStore: Sendable {
    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// A transition as the history records it.
    public struct Event: Sendable, Equatable {
        public var id: Int64
        public var alert: ActiveAlert
        /// `pending`, `firing`, `resolved` or `inactive`.
        public var state: String
        public var at: Date
    }

    private static let alertColumns = """
        rule, fingerprint, tenant_id, labels::text AS labels, annotations::text AS annotations, state, value, active_at, \
        fired_at, keep_firing_since, evaluated_at
        """

    /// Every pending or firing alert, of `tenant` if given, by rule and fingerprint.
    public func active(tenant: String? = nil) async throws -> [ActiveAlert] {
        try await pool.query("""
            SELECT \(Self.alertColumns) FROM sluice.alerts WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY rule, fingerprint
            """, [.init(tenant)]).map(Self.alert)
    }

    /// Whether any alert of a rule (not an inbound one) is pending or firing.
    func hasRuleAlerts() async throws -> Bool {
        try await pool.query("SELECT EXISTS (SELECT 1 FROM sluice.alerts WHERE rule NOT LIKE 'alertmanager:%') AS any")
            .first?.decode(Bool.self, "any") ?? false
    }

    /// Writes one evaluation's changes in one transaction: the alerts as they are now (`nil`: gone), and the
    /// transitions, which wait in the history for their notification. Alerts whose state did not change only
    /// get their value, annotations and evaluation time refreshed, all in one statement.
    func save(_ changes: [(key: AlertKey, alert: ActiveAlert?, transition: ActiveAlert.Transition, previous: ActiveAlert?)],
              at time: Date, fence: Int32?) async throws {
        guard !changes.isEmpty else { return }
        let unchanged = changes.filter { change in
            guard change.transition == .none, let alert = change.alert, let previous = change.previous else { return false }
            return alert.state == previous.state && alert.keepFiringSince == previous.keepFiringSince
        }
        let refreshed = try unchanged.compactMap { change -> (AlertKey, Double?, String)? in
            guard let alert = change.alert else { return nil }
            return (change.key, alert.value.flatMap { $0.isFinite ? $0 : nil }, try Self.json(alert.annotations))
        }
        let unchangedKeys = Set(unchanged.map(\.key))
        try await pool.withTransaction { connection in
            try Self.checkLead(fence, on: connection)
            if !refreshed.isEmpty {
                try connection.execute("""
                    UPDATE sluice.alerts a SET value = u.value, annotations = u.annotations::jsonb, evaluated_at = $5
                    FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[]) AS u (rule, fingerprint, value, annotations)
                    WHERE a.rule = u.rule AND a.fingerprint = u.fingerprint
                    """, [.array(refreshed.map { $0.0.rule }), .array(refreshed.map { $0.0.fingerprint }),
                          .array(refreshed.map { $0.1.map { "\($0)" } }), .array(refreshed.map(\.2)), .init(time)])
            }
            for change in changes where !unchangedKeys.contains(change.key) {
                if let alert = change.alert {
                    try connection.execute("""
                        INSERT INTO sluice.alerts (\(Self.alertColumns.replacingOccurrences(of: "::text AS labels", with: "")
                            .replacingOccurrences(of: "::text AS annotations", with: "")))
                        VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11)
                        ON CONFLICT (rule, fingerprint) DO UPDATE SET labels = excluded.labels, annotations = excluded.annotations,
                            state = excluded.state, value = excluded.value, active_at = excluded.active_at, fired_at = excluded.fired_at,
                            keep_firing_since = excluded.keep_firing_since, evaluated_at = excluded.evaluated_at
                        """, [.init(alert.rule), .init(alert.fingerprint), .init(alert.tenant), .init(try Self.json(alert.labels)),
                              .init(try Self.json(alert.annotations)), .init(alert.state.rawValue), .init(alert.value.flatMap { $0.isFinite ? $0 : nil }),
                              .init(alert.activeAt), .init(alert.firedAt), .init(alert.keepFiringSince), .init(alert.evaluatedAt)])
                } else {
                    try connection.execute("DELETE FROM sluice.alerts WHERE rule = $1 AND fingerprint = $2",
                                           [.init(change.key.rule), .init(change.key.fingerprint)])
                }
                guard change.transition != .none, let subject = change.alert ?? change.previous else { continue }
                try Self.recordTransition(subject, state: change.transition.rawValue, at: time, notifiedAt: nil, on: connection)
            }
        }
    }

    /// Throws `not_leader` unless the backend `fence` (the leader's connection) still holds the lead's lock;
    /// nothing to check without a fence (an evaluation run directly, as tests do).
    static func checkLead(_ fence: Int32?, on connection: PostgresConnection) throws {
        guard let fence else { return }
        let held = try connection.query(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1) AS held", [.init(fence)])
            .first?.decode(Bool.self, "held") ?? false
        guard held else { throw ServiceError(.conflict, "not_leader", "this process lost the lead of the evaluation") }
    }

    /// Whether the backend `fence` still holds the lead's lock (always, without a fence).
    func stillLeads(_ fence: Int32?) async throws -> Bool {
        guard fence != nil else { return true }
        return try await pool.withConnection { connection in
            do {
                try Self.checkLead(fence, on: connection)
                return true
            } catch let error as ServiceError where error.code == "not_leader" {
                return false
            }
        }
    }

    private static let historyColumns = """
        id, rule, fingerprint, tenant_id, labels::text AS labels, annotations::text AS annotations, state, value, active_at, at
        """

    /// Writes `alert`'s transition to `state` in the history (`notifiedAt` nil: waiting for receivers).
    static func recordTransition(_ alert: ActiveAlert, state: String, at time: Date, notifiedAt: Date?, on connection: PostgresConnection) throws {
        try connection.execute("""
            INSERT INTO sluice.alert_history (rule, fingerprint, tenant_id, labels, annotations, state, value, active_at, at, notified_at)
            VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10)
            """, [.init(alert.rule), .init(alert.fingerprint), .init(alert.tenant), .init(try json(alert.labels)),
                  .init(try json(alert.annotations)), .init(state), .init(alert.value.flatMap { $0.isFinite ? $0 : nil }),
                  .init(alert.activeAt), .init(time), .init(notifiedAt)])
    }

    /// Firing and resolved transitions not yet given to receivers, oldest first.
    func unnotified(limit: Int = 500) async throws -> [Event] {
        try await pool.query("""
            SELECT \(Self.historyColumns) FROM sluice.alert_history
            WHERE notified_at IS NULL AND state IN ('firing', 'resolved') ORDER BY id LIMIT $1
            """, [.init(limit)]).map(Self.event)
    }

    func markNotified(_ id: Int64, at time: Date) async throws {
        try await pool.execute("UPDATE sluice.alert_history SET notified_at = $2 WHERE id = $1", [.init(id), .init(time)])
    }

    /// Transitions in `[from, to)`, of `tenant` if given, newest first.
    public func history(from: Date, to: Date, tenant: String?, limit: Int) async throws -> [Event] {
        try await pool.query("""
            SELECT \(Self.historyColumns) FROM sluice.alert_history
            WHERE at >= $1 AND at < $2 AND ($3::text IS NULL OR tenant_id = $3) ORDER BY at DESC, id DESC LIMIT $4
            """, [.init(from), .init(to), .init(tenant), .init(limit)]).map(Self.event)
    }

    // MARK: Rows

    static func json(_ map: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(map), as: UTF8.self)
    }

    private static func map(_ row: PostgresRow, _ column: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data((try row.decode(String.self, column) ?? "{}").utf8))
    }

    private static func alert(_ row: PostgresRow) throws -> ActiveAlert {
        guard let state = try row.decode(String.self, "state").flatMap(ActiveAlert.State.init(rawValue:)),
              let activeAt = try row.decode(Date.self, "active_at") else {
            throw PostgresError(code: .decodeFailed, message: "sluice.alerts: a row without state or active_at")
        }
        return try alert(row, state: state, activeAt: activeAt, firedAt: try row.decode(Date.self, "fired_at"),
                         keepFiringSince: try row.decode(Date.self, "keep_firing_since"),
                         evaluatedAt: try row.decode(Date.self, "evaluated_at") ?? activeAt)
    }

    private static func event(_ row: PostgresRow) throws -> Event {
        let at = try row.decode(Date.self, "at") ?? Date(timeIntervalSince1970: 0)
        let state = try row.decode(String.self, "state") ?? ""
        let alert = try alert(row, state: state == "firing" ? .firing : .pending, activeAt: try row.decode(Date.self, "active_at") ?? at,
                              firedAt: nil, keepFiringSince: nil, evaluatedAt: at)
        return Event(id: try row.decode(Int64.self, "id") ?? 0, alert: alert, state: state, at: at)
    }

    /// The columns both tables share, with what the caller read of the others.
    private static func alert(_ row: PostgresRow, state: ActiveAlert.State, activeAt: Date, firedAt: Date?, keepFiringSince: Date?,
                              evaluatedAt: Date) throws -> ActiveAlert {
        ActiveAlert(rule: try row.decode(String.self, "rule") ?? "", fingerprint: try row.decode(String.self, "fingerprint") ?? "",
                    tenant: try row.decode(String.self, "tenant_id"), labels: try map(row, "labels"), annotations: try map(row, "annotations"),
                    state: state, value: try row.decode(Double.self, "value"), activeAt: activeAt, firedAt: firedAt,
                    keepFiringSince: keepFiringSince, evaluatedAt: evaluatedAt)
    }
}

/// An alert's identity: its rule and its label set's fingerprint.
struct AlertKey: Hashable, Sendable {
    let rule: String
    let fingerprint: String
}

extension AlertStore {
    /// Records an inbound alert's status: a firing alert not yet known is stored (and its history written),
    /// a resolved one that was known is removed. Returns when it began firing for a transition, nil for a
    /// repeat (already firing, or unknown and resolved).
    /// `then` runs in the same transaction when there is a transition, given when the alert began firing.
    func recordInbound(_ key: AlertKey, labels: [String: String], annotations: [String: String], firing: Bool, at time: Date,
                       then: @escaping @Sendable (PostgresConnection, Date) throws -> Void) async throws -> Date? {
        let labelsJSON = try Self.json(labels)
        let annotationsJSON = try Self.json(annotations)
        return try await pool.withTransaction { connection in
            let row: PostgresRow?
            if firing {
                row = try connection.query("""
                    INSERT INTO sluice.alerts (rule, fingerprint, tenant_id, labels, annotations, state, active_at, fired_at, evaluated_at)
                    VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 'firing', $6, $6, $6)
                    ON CONFLICT (rule, fingerprint) DO NOTHING RETURNING active_at
                    """, [.init(key.rule), .init(key.fingerprint), .init(labels["tenant"]), .init(labelsJSON), .init(annotationsJSON),
                          .init(time)]).first
            } else {
                row = try connection.query("DELETE FROM sluice.alerts WHERE rule = $1 AND fingerprint = $2 RETURNING active_at",
                                           [.init(key.rule), .init(key.fingerprint)]).first
            }
            guard let row, let activeAt = try row.decode(Date.self, "active_at") else { return nil }
            // Delivered in the request that brought it: written as notified.
            let alert = ActiveAlert(rule: key.rule, fingerprint: key.fingerprint, tenant: labels["tenant"], labels: labels,
                                    annotations: annotations, state: .firing, value: nil, activeAt: activeAt, firedAt: nil,
                                    keepFiringSince: nil, evaluatedAt: time)
            try Self.recordTransition(alert, state: firing ? "firing" : "resolved", at: time, notifiedAt: time, on: connection)
            try then(connection, activeAt)
            return activeAt
        }
    }
}
