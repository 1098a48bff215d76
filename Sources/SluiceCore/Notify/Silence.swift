import Foundation
import SluiceStore

/// A silence: notifications of alerts whose labels satisfy every matcher are muted from `startsAt` to `endsAt`.
/// Expired silences stay, as history.
public struct Silence: Sendable, Encodable, Equatable {
    public var id: String
    public var matchers: [LabelMatcher]
    public var startsAt: Date
    public var endsAt: Date
    public var comment: String
    public var createdBy: String
    public var createdAt: Date

    /// `pending` (not started), `active` or `expired`.
    public func state(at time: Date) -> String {
        time < startsAt ? "pending" : time < endsAt ? "active" : "expired"
    }

    /// Whether it mutes an alert with `labels` at `time`.
    public func mutes(_ labels: [String: String], at time: Date) -> Bool {
        state(at: time) == "active" && matchers.allSatisfy { $0.matches(labels) }
    }

    enum CodingKeys: String, CodingKey {
        case id, matchers, comment, state
        case startsAt = "starts_at", endsAt = "ends_at", createdBy = "created_by", createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(matchers.map(\.description), forKey: .matchers)
        try container.encode(startsAt, forKey: .startsAt)
        try container.encode(endsAt, forKey: .endsAt)
        try container.encode(comment, forKey: .comment)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(state(at: Date()), forKey: .state)
    }
}

/// Silences in the store, `sluice.silences`.
public struct SilenceStore: Sendable {
    static let migration = PostgresMigration(version: 12, name: "silences", sql: """
        CREATE TABLE sluice.silences (
            id          text PRIMARY KEY,
            matchers    jsonb NOT NULL,
            starts_at   timestamptz NOT NULL,
            ends_at     timestamptz NOT NULL,
            comment     text NOT NULL,
            created_by  text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX silences_ends_at ON sluice.silences (ends_at);
        COMMENT ON TABLE sluice.silences IS 'Silences of alert notifications; expired ones are kept as history';
        """)

    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Stores a silence of `matchers` (as Alertmanager writes them) from `startsAt` (default now) to `endsAt`;
    /// throws `invalid_silence` naming what is wrong.
    public func create(matchers texts: [String], startsAt: Date?, endsAt: Date, comment: String, createdBy: String) async throws -> Silence {
        var matchers: [LabelMatcher] = []
        for text in texts {
            guard let matcher = LabelMatcher(text) else {
                throw ServiceError(.invalid, "invalid_silence", "\"\(text)\" is not a matcher such as tenant=\"a\" or severity=~\"page|ticket\"")
            }
            matchers.append(matcher)
        }
        let now = Date()
        let start = startsAt ?? now
        guard !matchers.isEmpty, matchers.count <= 32 else { throw ServiceError(.invalid, "invalid_silence", "a silence needs 1 to 32 matchers") }
        guard endsAt > start, endsAt > now else { throw ServiceError(.invalid, "invalid_silence", "ends_at must be after starts_at and in the future") }
        guard !comment.trimmingCharacters(in: .whitespaces).isEmpty, comment.count <= 1000, createdBy.count <= 200 else {
            throw ServiceError(.invalid, "invalid_silence", "comment must say why (1 to 1000 characters); created_by at most 200")
        }
        let silence = Silence(id: "s" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24),
                              matchers: matchers, startsAt: start, endsAt: endsAt, comment: comment, createdBy: createdBy, createdAt: now)
        try await pool.execute("""
            INSERT INTO sluice.silences (id, matchers, starts_at, ends_at, comment, created_by, created_at)
            VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7)
            """, [.init(silence.id), .init(Self.json(matchers)), .init(silence.startsAt), .init(silence.endsAt), .init(comment),
                  .init(createdBy), .init(now)])
        return silence
    }

    /// Every silence, newest first (at most `limit`); `active` ones only when asked.
    public func list(activeAt time: Date? = nil, limit: Int = 1000) async throws -> [Silence] {
        try await pool.query("""
            SELECT id, matchers::text AS matchers, starts_at, ends_at, comment, created_by, created_at FROM sluice.silences
            WHERE $1::timestamptz IS NULL OR (starts_at <= $1 AND ends_at > $1) ORDER BY created_at DESC, id LIMIT $2
            """, [.init(time), .init(limit)]).map { row in
            let texts = try JSONDecoder().decode([String].self, from: Data((try row.decode(String.self, "matchers") ?? "[]").utf8))
            return Silence(id: try row.decode(String.self, "id") ?? "", matchers: texts.compactMap(LabelMatcher.init),
                           startsAt: try row.decode(Date.self, "starts_at") ?? .distantPast, endsAt: try row.decode(Date.self, "ends_at") ?? .distantPast,
                           comment: try row.decode(String.self, "comment") ?? "", createdBy: try row.decode(String.self, "created_by") ?? "",
                           createdAt: try row.decode(Date.self, "created_at") ?? .distantPast)
        }
    }

    /// Ends silence `id` now (it stays, expired); `silence_not_found` if there is none.
    public func expire(_ id: String) async throws {
        let changed = try await pool.execute("UPDATE sluice.silences SET ends_at = least(ends_at, now()) WHERE id = $1", [.init(id)])
        guard changed == 1 else { throw ServiceError(.notFound, "silence_not_found", "no silence \"\(id)\"") }
    }

    private static func json(_ matchers: [LabelMatcher]) -> String {
        String(decoding: (try? JSONEncoder().encode(matchers.map(\.description))) ?? Data("[]".utf8), as: UTF8.self)
    }
}
