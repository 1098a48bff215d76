import Foundation
import SluiceStore

/// Every attempt to deliver a notification, in `sluice.notification_attempts`.
public struct DeliveryLog: Sendable {
    /// One attempt.
    public struct Attempt: Sendable, Encodable, Equatable {
        public var id: Int64?
        public var receiver: String
        public var integration: String
        public var groupKey: String
        /// The group's status: `firing` or `resolved`.
        public var status: String
        /// From 1.
        public var attempt: Int
        /// `delivered`, `retrying`, `failed` (given up, or not worth retrying) or `dropped` (the queue was full).
        public var outcome: String
        public var httpStatus: Int?
        /// The SMTP server's last reply code, for email.
        public var smtpReply: Int?
        public var error: String?
        public var durationSeconds: Double?
        public var at: Date

        enum CodingKeys: String, CodingKey {
            case id, receiver, integration, status, attempt, outcome, error, at
            case groupKey = "group_key", httpStatus = "http_status", smtpReply = "smtp_reply", durationSeconds = "duration_seconds"
        }
    }

    static let migration = PostgresMigration(version: 11, name: "notification attempts", sql: """
        CREATE TABLE sluice.notification_attempts (
            id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            receiver          text NOT NULL,
            integration       text NOT NULL,
            group_key         text NOT NULL,
            status            text NOT NULL,
            attempt           integer NOT NULL,
            outcome           text NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed', 'dropped')),
            http_status       integer,
            error             text,
            duration_seconds  double precision,
            at                timestamptz NOT NULL
        );
        CREATE INDEX notification_attempts_at ON sluice.notification_attempts (at);
        CREATE INDEX notification_attempts_receiver_at ON sluice.notification_attempts (receiver, at);
        COMMENT ON TABLE sluice.notification_attempts IS 'Every attempt to deliver an alert notification, with its answer';
        """)

    let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    func append(_ attempt: Attempt) async throws {
        try await pool.execute("""
            INSERT INTO sluice.notification_attempts (receiver, integration, group_key, status, attempt, outcome, http_status, error,
                duration_seconds, at, smtp_reply)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """, [.init(attempt.receiver), .init(attempt.integration), .init(attempt.groupKey), .init(attempt.status),
                  .init(attempt.attempt), .init(attempt.outcome), .init(attempt.httpStatus), .init(attempt.error.map { String($0.prefix(2000)) }),
                  .init(attempt.durationSeconds), .init(attempt.at), .init(attempt.smtpReply)])
    }

    /// Attempts in `[from, to)`, of `receiver` if given, newest first.
    public func list(receiver: String?, from: Date, to: Date, limit: Int) async throws -> [Attempt] {
        try await pool.query("""
            SELECT id, receiver, integration, group_key, status, attempt, outcome, http_status, smtp_reply, error, duration_seconds, at
            FROM sluice.notification_attempts
            WHERE at >= $1 AND at < $2 AND ($3::text IS NULL OR receiver = $3) ORDER BY at DESC, id DESC LIMIT $4
            """, [.init(from), .init(to), .init(receiver), .init(limit)]).map { row in
            Attempt(id: try row.decode(Int64.self, "id"), receiver: try row.decode(String.self, "receiver") ?? "",
                    integration: try row.decode(String.self, "integration") ?? "", groupKey: try row.decode(String.self, "group_key") ?? "",
                    status: try row.decode(String.self, "status") ?? "", attempt: try row.decode(Int.self, "attempt") ?? 0,
                    outcome: try row.decode(String.self, "outcome") ?? "", httpStatus: try row.decode(Int.self, "http_status"),
                    smtpReply: try row.decode(Int.self, "smtp_reply"),
                    error: try row.decode(String.self, "error"), durationSeconds: try row.decode(Double.self, "duration_seconds"),
                    at: try row.decode(Date.self, "at") ?? from)
        }
    }
}
