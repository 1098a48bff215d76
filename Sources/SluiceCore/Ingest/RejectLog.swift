import SluiceStore

/// One rejected row of an ingested file.
public struct RejectRecord: Sendable, Encodable {
    public let recordNumber: Int
    public let line: Int?
    public let field: String?
    public let reason: String
    public let message: String
    public let raw: String?

    enum CodingKeys: String, CodingKey {
        case line, field, reason, message, raw
        case recordNumber = "record_number"
    }
}

/// The rejects table, read a page at a time.
public struct RejectLog: Sendable {
    private let pool: PostgresConnectionPool

    public init(pool: PostgresConnectionPool) {
        self.pool = pool
    }

    /// Rejects of the tenant's file with record numbers after `after`, at most `limit`.
    public func page(tenant: String, fileID: String, after: Int, limit: Int) async throws -> [RejectRecord] {
        try await page(tenant: tenant, source: (table: "files", column: "file_id", id: fileID), after: after, limit: limit) {
            ServiceError(.notFound, "file_not_found", "no file \"\(fileID)\" for tenant \"\(tenant)\"")
        }
    }

    /// Rejects of the tenant's stream micro-batch (numbered across its requests' messages, then what its app
    /// rejected) after `after`, at most `limit`.
    public func page(tenant: String, batchID: String, after: Int, limit: Int) async throws -> [RejectRecord] {
        try await page(tenant: tenant, source: (table: "stream_batches", column: "batch_id", id: batchID), after: after, limit: limit) {
            ServiceError(.notFound, "batch_not_found", "no stream micro-batch \"\(batchID)\" for tenant \"\(tenant)\"")
        }
    }

    private func page(tenant: String, source: (table: String, column: String, id: String), after: Int, limit: Int,
                      missing: () -> ServiceError) async throws -> [RejectRecord] {
        guard try await !pool.query("SELECT 1 FROM sluice.\(source.table) WHERE tenant_id = $1 AND id = $2",
                                    [.init(tenant), .init(source.id)]).isEmpty else { throw missing() }
        return try await pool.query("""
            SELECT record_number, line, field, reason, message, raw FROM sluice.rejects
            WHERE \(source.column) = $1 AND record_number > $2 ORDER BY record_number LIMIT $3
            """, [.init(source.id), .init(after), .init(limit)]).map { row in
            RejectRecord(recordNumber: try row.decode(Int.self, "record_number") ?? 0, line: try row.decode(Int.self, "line"),
                         field: try row.decode(String.self, "field"), reason: try row.decode(String.self, "reason") ?? "",
                         message: try row.decode(String.self, "message") ?? "", raw: try row.decode(String.self, "raw"))
        }
    }
}
