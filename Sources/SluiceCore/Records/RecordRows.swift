import SluiceStore

/// The SQL of a ``RecordQuery`` and the encoding of what it returns: every column read as text (timestamps as
/// RFC 3339 in UTC with milliseconds), the primary key read again for the cursor, rows encoded as JSON objects
/// (schema order, numbers and booleans as such) or CSV lines.
struct RecordRows: Sendable {
    let storage: TenantStorage
    let query: RecordQuery

    init(definition: TenantDefinition, query: RecordQuery) {
        storage = TenantStorage(definition: definition)
        self.query = query
    }

    private var keyColumns: [RecordColumn] {
        let all = RecordColumn.all(of: storage.definition)
        return storage.definition.primaryKey.compactMap { name in all.first { $0.name == name } }
    }

    /// The statement reading `limit` records after `after`, and its parameters.
    func select(after: RecordCursor?, limit: Int) -> (sql: String, parameters: [PostgresValue]) {
        var parameters: [PostgresValue] = []
        func bind(_ value: String, as column: RecordColumn) -> String {
            parameters.append(.init(value))
            return "$\(parameters.count)::\(column.type.postgresType)"
        }
        var conditions = query.filters.map { filter in
            "\(PostgresIdentifier.quote(filter.column.name)) \(filter.comparison.sql) \(bind(filter.value, as: filter.column))"
        }
        if let source = query.sourceID {
            parameters.append(.init(source))
            conditions.append("\(PostgresIdentifier.quote(TenantStorage.sourceIDColumn)) = $\(parameters.count)")
        }
        let keys = keyColumns
        if let after {
            let bound = zip(after.key, keys).map { bind($0, as: $1) }
            conditions.append("(\(keys.map { PostgresIdentifier.quote($0.name) }.joined(separator: ", "))) > (\(bound.joined(separator: ", ")))")
        }
        parameters.append(.init(limit))
        let selected = (query.columns + keys).map(Self.text).joined(separator: ", ")
        let sql = "SELECT \(selected) FROM \(storage.qualifiedTableName)"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY \(keys.map { PostgresIdentifier.quote($0.name) }.joined(separator: ", ")) LIMIT $\(parameters.count)"
        return (sql, parameters)
    }

    /// A column read as text.
    private static func text(_ column: RecordColumn) -> String {
        let name = PostgresIdentifier.quote(column.name)
        return column.type == .timestampMillis
            ? "to_char(\(name) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            : "\(name)::text"
    }

    /// The cursor after `row`.
    func cursor(after row: PostgresRow) throws -> RecordCursor {
        RecordCursor(key: try (0..<keyColumns.count).map { try row.text(at: query.columns.count + $0) ?? "" })
    }

    /// `row` as a JSON object.
    func json(_ row: PostgresRow) throws -> String {
        var out = "{"
        for (index, column) in query.columns.enumerated() {
            if index > 0 { out += "," }
            out += TextEscaping.jsonString(column.name) + ":"
            guard let text = try row.text(at: index) else {
                out += "null"
                continue
            }
            switch column.type {
            case .int, .long: out += text
            case .float, .double: out += Double(text)?.isFinite == true ? text : TextEscaping.jsonString(text)
            case .boolean: out += text  // `::text` reads booleans as true and false
            case .string, .date, .timestampMillis: out += TextEscaping.jsonString(text)
            }
        }
        return out + "}"
    }

    /// The CSV header line.
    var csvHeader: String {
        query.columns.map { TextEscaping.csvField($0.name) }.joined(separator: ",")
    }

    /// `row` as a CSV line (`NULL` as an empty field).
    func csv(_ row: PostgresRow) throws -> String {
        try query.columns.indices.map { index in
            guard let text = try row.text(at: index) else { return "" }
            return TextEscaping.csvField(text)
        }.joined(separator: ",")
    }
}
