import SluiceStore

/// A tenant's own data read back: pages of records in primary-key order (keyset paging, so pages stay complete
/// and stable while rows are ingested) and exports of any size, a batch at a time. Every query runs with a
/// statement timeout.
public struct TenantRecords: Sendable {
    public struct Configuration: Sendable {
        /// The longest one query may run; then the request fails with `503 query_timeout`.
        public var statementTimeout: Duration
        /// The most bytes of records one page answers; a page cut there says so and goes on from its last record.
        public var maximumPageBytes: Int
        /// Records read per query while exporting.
        public var exportBatch: Int

        public init(statementTimeout: Duration = .seconds(10), maximumPageBytes: Int = 8 * 1024 * 1024, exportBatch: Int = 5000) {
            self.statementTimeout = statementTimeout
            self.maximumPageBytes = maximumPageBytes
            self.exportBatch = exportBatch
        }
    }

    /// The formats of an export.
    public enum ExportFormat: String, Sendable, CaseIterable {
        case ndjson, csv
    }

    /// One page: JSON objects, and where the next page starts (nil when this one is the last).
    public struct Page: Sendable {
        public var records: [String]
        public var next: RecordCursor?
        /// Whether the page was cut by ``Configuration/maximumPageBytes`` before its limit.
        public var truncated: Bool

        /// The page as the API answers it: `{"count", "next", "records", "truncated"}`.
        public var json: [UInt8] {
            let next = next.map { TextEscaping.jsonString($0.encoded) } ?? "null"
            return Array("{\"count\":\(records.count),\"next\":\(next),\"records\":[\(records.joined(separator: ","))],\"truncated\":\(truncated)}\n".utf8)
        }
    }

    /// A query checked against its tenant's schema, ready to run.
    public struct Prepared: Sendable {
        let rows: RecordRows
        public var query: RecordQuery { rows.query }
    }

    private let pool: PostgresConnectionPool
    private let tenants: TenantService
    private let configuration: Configuration

    public init(pool: PostgresConnectionPool, tenants: TenantService, configuration: Configuration = .init()) {
        self.pool = pool
        self.tenants = tenants
        self.configuration = configuration
    }

    /// Reads `parameters` against the tenant's schema (see ``RecordQuery/parse(_:definition:)``).
    public func prepare(tenant: String, parameters: [(name: String, value: String)]) async throws -> Prepared {
        let definition = try await tenants.get(tenant).definition
        return Prepared(rows: RecordRows(definition: definition, query: try RecordQuery.parse(parameters, definition: definition)))
    }

    /// The page `prepared` asks for.
    public func page(_ prepared: Prepared) async throws -> Page {
        let rows = try await fetch(prepared.rows, after: prepared.query.after, limit: prepared.query.limit + 1)
        var page = Page(records: [], next: nil, truncated: false)
        var bytes = 0
        for row in rows.prefix(prepared.query.limit) {
            let record = try prepared.rows.json(row)
            bytes += record.utf8.count + 1
            if bytes > configuration.maximumPageBytes && !page.records.isEmpty {
                page.truncated = true
                break
            }
            page.records.append(record)
        }
        if page.truncated || rows.count > prepared.query.limit, page.records.count > 0 {
            page.next = try prepared.rows.cursor(after: rows[page.records.count - 1])
        }
        return page
    }

    /// Every record `prepared` matches (its `after` and filters apply, its limit does not), in `format`, a batch
    /// at a time: `emit` gets each batch's bytes and may wait. The first batch is read before this returns, so a
    /// failing query throws here; what fails later throws from `emit`'s caller, the returned closure.
    public func export(_ prepared: Prepared, format: ExportFormat) async throws -> @Sendable (@Sendable ([UInt8]) async throws -> Void) async throws -> Void {
        let batch = configuration.exportBatch
        let first = try await fetch(prepared.rows, after: prepared.query.after, limit: batch)
        return { emit in
            var rows = first
            if format == .csv { try await emit(Array((prepared.rows.csvHeader + "\n").utf8)) }
            while true {
                var chunk = ""
                for row in rows {
                    chunk += try format == .csv ? prepared.rows.csv(row) : prepared.rows.json(row)
                    chunk += "\n"
                }
                try await emit(Array(chunk.utf8))
                guard rows.count == batch else { return }
                rows = try await fetch(prepared.rows, after: try prepared.rows.cursor(after: rows[batch - 1]), limit: batch)
            }
        }
    }

    private func fetch(_ rows: RecordRows, after: RecordCursor?, limit: Int) async throws -> PostgresRows {
        let (sql, parameters) = rows.select(after: after, limit: limit)
        let timeout = Int(configuration.statementTimeout.secondsValue * 1000)
        do {
            return try await pool.withTransaction { connection in
                _ = try connection.execute("SET LOCAL statement_timeout = \(timeout)")
                return try connection.query(sql, parameters)
            }
        } catch let error as PostgresError where error.sqlState == "57014" {
            throw ServiceError(.unavailable, "query_timeout",
                               "the query ran longer than \(timeout) ms; narrow it with filters or a smaller limit")
        } catch let error as PostgresError where error.sqlStateClass == "22" {
            throw ServiceError(.invalid, "invalid_filter", "a filter or cursor value does not fit its field: \(error.message)")
        }
    }
}
