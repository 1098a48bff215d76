import Foundation
import SluiceStore

/// Alertmanager's aggregation groups and notification log, kept in the store so a restart neither forgets a
/// group waiting for its `group_wait` nor sends again within `repeat_interval`: `sluice.notification_groups`
/// (per receiver and group key: when it flushes next, what it last sent) and `sluice.notification_group_alerts`
/// (the group's alerts, firing or resolved, until a flush has passed on their resolution).
public struct NotificationGroups: Sendable {
    static let migration = PostgresMigration(version: 13, name: "notification groups and SMTP replies", sql: """
        CREATE TABLE sluice.notification_groups (
            receiver                 text NOT NULL,
            group_key                text NOT NULL,
            group_labels             jsonb NOT NULL,
            group_interval_seconds   integer NOT NULL,
            repeat_interval_seconds  integer NOT NULL,
            created_at               timestamptz NOT NULL,
            flush_at                 timestamptz NOT NULL,
            notified_at              timestamptz,
            firing_sent              jsonb NOT NULL DEFAULT '[]',
            resolved_sent            jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (receiver, group_key)
        );
        CREATE INDEX notification_groups_flush_at ON sluice.notification_groups (flush_at);
        CREATE TABLE sluice.notification_group_alerts (
            receiver     text NOT NULL,
            group_key    text NOT NULL,
            fingerprint  text NOT NULL,
            status       text NOT NULL CHECK (status IN ('firing', 'resolved')),
            labels       jsonb NOT NULL,
            annotations  jsonb NOT NULL,
            starts_at    timestamptz NOT NULL,
            ends_at      timestamptz,
            value        double precision,
            source       text NOT NULL,
            PRIMARY KEY (receiver, group_key, fingerprint),
            FOREIGN KEY (receiver, group_key) REFERENCES sluice.notification_groups ON DELETE CASCADE
        );
        ALTER TABLE sluice.notification_attempts ADD COLUMN smtp_reply integer;
        COMMENT ON TABLE sluice.notification_groups IS 'Aggregation groups of alert notifications per receiver, and what each last sent';
        COMMENT ON TABLE sluice.notification_group_alerts IS 'The alerts of each notification group';
        """)

    /// A group as stored, with its alerts.
    struct Group: Sendable {
        var receiver: String
        var key: String
        var labels: [String: String]
        var interval: Int
        var repeatInterval: Int
        /// When it last notified; nil before its first notification.
        var notifiedAt: Date?
        var firingSent: Set<String>
        var resolvedSent: Set<String>
        var alerts: [AlertNotification]
    }

    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Puts `notification` into its group at each of `destinations` and marks the outbox `event` handed on, in
    /// one transaction while the backend `fence` leads.
    func add(_ notification: AlertNotification, to destinations: [RouteDestination], at time: Date, event: Int64?, fence: Int32?) async throws {
        try await pool.withTransaction { connection in
            try AlertStore.checkLead(fence, on: connection)
            try Self.add(notification, to: destinations, at: time, on: connection)
            if let event {
                try connection.execute("UPDATE sluice.alert_history SET notified_at = $2 WHERE id = $1", [.init(event), .init(time)])
            }
        }
    }

    /// Puts `notification` into its group at each of `destinations` (a new group flushes after its `group_wait`).
    /// A resolution also resolves the alert in every other group holding it (one a reload regrouped), so no group
    /// keeps reminding of an alert that is over.
    static func add(_ notification: AlertNotification, to destinations: [RouteDestination], at time: Date,
                    on connection: PostgresConnection) throws {
        let labels = try AlertStore.json(notification.labels)
        let annotations = try AlertStore.json(notification.annotations)
        if notification.status == .resolved {
            try connection.execute("""
                UPDATE sluice.notification_group_alerts SET status = 'resolved', ends_at = $2
                WHERE fingerprint = $1 AND status = 'firing'
                """, [.init(notification.fingerprint), .init(notification.endsAt ?? time)])
        }
        for destination in destinations {
            let group = destination.group(of: notification.labels)
            try connection.execute("""
                INSERT INTO sluice.notification_groups (receiver, group_key, group_labels, group_interval_seconds,
                    repeat_interval_seconds, created_at, flush_at)
                VALUES ($1, $2, $3::jsonb, $4, $5, $6::timestamptz, $6::timestamptz + make_interval(secs => $7::float8))
                ON CONFLICT (receiver, group_key) DO UPDATE SET group_interval_seconds = excluded.group_interval_seconds,
                    repeat_interval_seconds = excluded.repeat_interval_seconds
                """, [.init(destination.receiver), .init(group.key), .init(try AlertStore.json(group.labels)),
                      .init(destination.grouping.interval ?? 300), .init(destination.grouping.repeatInterval ?? 14_400), .init(time),
                      .init(destination.grouping.wait ?? 30)])
            try connection.execute("""
                INSERT INTO sluice.notification_group_alerts (receiver, group_key, fingerprint, status, labels, annotations,
                    starts_at, ends_at, value, source)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10)
                ON CONFLICT (receiver, group_key, fingerprint) DO UPDATE SET status = excluded.status, labels = excluded.labels,
                    annotations = excluded.annotations, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                    value = excluded.value, source = excluded.source
                """, [.init(destination.receiver), .init(group.key), .init(notification.fingerprint), .init(notification.status.rawValue),
                      .init(labels), .init(annotations), .init(notification.startsAt), .init(notification.endsAt),
                      .init(notification.value.flatMap { $0.isFinite ? $0 : nil }), .init(notification.source)])
        }
    }

    /// Claims the groups due at `time` while the backend `fence` leads: their next flush moves a group interval
    /// on before anything is sent, so a process that lost the lead, or a failure, never sends a group twice in
    /// one interval. Oldest due first, with their alerts.
    func claim(at time: Date, fence: Int32?, limit: Int = 200) async throws -> [Group] {
        let groups = try await pool.withTransaction { connection in
            try AlertStore.checkLead(fence, on: connection)
            return try connection.query("""
                UPDATE sluice.notification_groups g SET flush_at = $1::timestamptz + make_interval(secs => g.group_interval_seconds)
                FROM (SELECT receiver, group_key FROM sluice.notification_groups WHERE flush_at <= $1
                      ORDER BY flush_at, receiver, group_key LIMIT $2 FOR UPDATE SKIP LOCKED) due
                WHERE g.receiver = due.receiver AND g.group_key = due.group_key
                RETURNING g.receiver, g.group_key, g.group_labels::text AS group_labels, g.group_interval_seconds,
                    g.repeat_interval_seconds, g.notified_at, g.firing_sent::text AS firing_sent, g.resolved_sent::text AS resolved_sent
                """, [.init(time), .init(limit)]).map { row in
                Group(receiver: try row.decode(String.self, "receiver") ?? "", key: try row.decode(String.self, "group_key") ?? "",
                      labels: try Self.decoded(row, "group_labels", as: [String: String].self),
                      interval: try row.decode(Int.self, "group_interval_seconds") ?? 300,
                      repeatInterval: try row.decode(Int.self, "repeat_interval_seconds") ?? 14_400,
                      notifiedAt: try row.decode(Date.self, "notified_at"),
                      firingSent: Set(try Self.decoded(row, "firing_sent", as: [String].self)),
                      resolvedSent: Set(try Self.decoded(row, "resolved_sent", as: [String].self)), alerts: [])
            }
        }
        guard !groups.isEmpty else { return [] }
        var alerts: [String: [AlertNotification]] = [:]
        for row in try await pool.query("""
            SELECT a.receiver, a.group_key, status, labels::text AS labels, annotations::text AS annotations, starts_at, ends_at, value, source
            FROM sluice.notification_group_alerts a JOIN unnest($1::text[], $2::text[]) AS g (receiver, group_key)
                ON a.receiver = g.receiver AND a.group_key = g.group_key
            """, [.array(groups.map(\.receiver)), .array(groups.map(\.key))]) {
            let status = AlertNotification.Status(rawValue: try row.decode(String.self, "status") ?? "") ?? .firing
            let startsAt = try row.decode(Date.self, "starts_at") ?? time
            let alert = AlertNotification(status: status, labels: try Self.decoded(row, "labels", as: [String: String].self),
                                          annotations: try Self.decoded(row, "annotations", as: [String: String].self), startsAt: startsAt,
                                          endsAt: try row.decode(Date.self, "ends_at"), value: try row.decode(Double.self, "value"),
                                          source: try row.decode(String.self, "source") ?? "", actions: [])
            alerts["\(try row.decode(String.self, "receiver") ?? "")\u{0}\(try row.decode(String.self, "group_key") ?? "")", default: []].append(alert)
        }
        return groups.map { group in
            var group = group
            group.alerts = alerts["\(group.receiver)\u{0}\(group.key)"] ?? []
            return group
        }
    }

    /// Settles a flush of `group` that needed no notification, or whose notification was delivered (`notified`,
    /// at `time`: what it carried): the group's resolved alerts of that flush leave it, and a group left without
    /// alerts is removed. A notification not delivered settles nothing: the next flush tries again.
    func settle(_ group: Group, notified: (firing: Set<String>, resolved: Set<String>)?, at time: Date) async throws {
        let resolved = group.alerts.filter { $0.status == .resolved }.map(\.fingerprint)
        try await pool.withTransaction { connection in
            // Locked first, so the emptiness check below (a statement of its own, with a fresh snapshot) sees an
            // alert a concurrent add committed meanwhile.
            _ = try connection.query("SELECT 1 FROM sluice.notification_groups WHERE receiver = $1 AND group_key = $2 FOR UPDATE",
                                     [.init(group.receiver), .init(group.key)])
            try connection.execute("""
                DELETE FROM sluice.notification_group_alerts
                WHERE receiver = $1 AND group_key = $2 AND status = 'resolved' AND fingerprint = ANY($3::text[])
                """, [.init(group.receiver), .init(group.key), .array(resolved)])
            if let notified {
                try connection.execute("""
                    UPDATE sluice.notification_groups SET notified_at = $3, firing_sent = $4::jsonb, resolved_sent = $5::jsonb
                    WHERE receiver = $1 AND group_key = $2
                    """, [.init(group.receiver), .init(group.key), .init(time), .init(try Self.json(notified.firing)),
                          .init(try Self.json(notified.resolved))])
            }
            try connection.execute("""
                DELETE FROM sluice.notification_groups g WHERE receiver = $1 AND group_key = $2
                    AND NOT EXISTS (SELECT 1 FROM sluice.notification_group_alerts a WHERE a.receiver = g.receiver AND a.group_key = g.group_key)
                """, [.init(group.receiver), .init(group.key)])
        }
    }

    /// Removes the groups of a receiver no longer configured, while the backend `fence` leads.
    func remove(receiver: String, fence: Int32?) async throws {
        try await pool.withTransaction { connection in
            try AlertStore.checkLead(fence, on: connection)
            try connection.execute("DELETE FROM sluice.notification_groups WHERE receiver = $1", [.init(receiver)])
        }
    }

    /// Whether any group waits to flush.
    func any() async throws -> Bool {
        try await pool.query("SELECT EXISTS (SELECT 1 FROM sluice.notification_groups) AS any").first?.decode(Bool.self, "any") ?? false
    }

    private static func json(_ fingerprints: Set<String>) throws -> String {
        String(decoding: try JSONEncoder().encode(fingerprints.sorted()), as: UTF8.self)
    }

    private static func decoded<T: Decodable>(_ row: PostgresRow, _ column: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data((try row.decode(String.self, column) ?? "null").utf8))
    }
}
