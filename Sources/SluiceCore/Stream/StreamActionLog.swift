import Foundation
import SluiceStore

/// The stream manager's action log, `sluice.stream_actions`.
struct StreamActionLog: Sendable {
    let pool: PostgresConnectionPool

    /// Stores `record`; returns its id.
    func append(_ record: StreamActionRecord) async throws -> Int64 {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        let parameters = String(decoding: try encoder.encode(record.parameters), as: UTF8.self)
        let state = String(decoding: try encoder.encode(record.state), as: UTF8.self)
        let cause = try record.cause.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let rows = try await pool.query("""
            INSERT INTO sluice.stream_actions (tenant_id, action, parameters, source, outcome, message, state, instance_id, at, cause)
            VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb) RETURNING id
            """, [.init(record.tenant), .init(record.action), .init(parameters), .init(record.source), .init(record.outcome),
                  .init(record.message), .init(state), .init(record.instanceID), .init(record.at), .init(cause)])
        return try rows.first?.decode(Int64.self, "id") ?? 0
    }

    /// The newest `limit` entries, of `tenant` if given.
    func list(tenant: String?, limit: Int) async throws -> [StreamActionRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try await pool.query("""
            SELECT id, tenant_id, action, parameters::text AS parameters, source, outcome, message, state::text AS state, instance_id, at,
                   cause::text AS cause
            FROM sluice.stream_actions WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY id DESC LIMIT $2
            """, [.init(tenant), .init(limit)]).map { row in
            StreamActionRecord(
                id: try row.decode(Int64.self, "id"), tenant: try row.decode(String.self, "tenant_id") ?? "",
                action: try row.decode(String.self, "action") ?? "",
                parameters: try decoder.decode([String: Double].self, from: Data((try row.decode(String.self, "parameters") ?? "{}").utf8)),
                source: try row.decode(String.self, "source") ?? "", outcome: try row.decode(String.self, "outcome") ?? "",
                message: try row.decode(String.self, "message"),
                state: try decoder.decode(StreamInstancesState.self, from: Data((try row.decode(String.self, "state") ?? "{}").utf8)),
                instanceID: try row.decode(String.self, "instance_id") ?? "", at: try row.decode(Date.self, "at") ?? Date(),
                cause: try row.decode(String.self, "cause").map { try decoder.decode(StreamActionCause.self, from: Data($0.utf8)) })
        }
    }
}
