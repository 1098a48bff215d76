import Foundation

/// What a tenant asks of its records: the columns, equality and range filters on its fields, the source (a file
/// or stream micro-batch), and a page in primary-key order after a cursor. Parsed from query parameters and
/// checked against the tenant's schema, so only known columns and well-formed values reach the store (and then
/// only as bound parameters).
public struct RecordQuery: Sendable {
    /// A comparison a filter makes: `FIELD=v` is `eq`; `FIELD.gte=v` and the others name theirs.
    public enum Comparison: String, Sendable, CaseIterable {
        case eq, gt, gte, lt, lte

        var sql: String {
            switch self {
            case .eq: "="
            case .gt: ">"
            case .gte: ">="
            case .lt: "<"
            case .lte: "<="
            }
        }
    }

    public struct Filter: Sendable, Equatable {
        public var column: RecordColumn
        public var comparison: Comparison
        /// The value as PostgreSQL reads it for the column's type.
        public var value: String
    }

    /// The columns answered, in schema order (every field, then the lineage columns, by default).
    public var columns: [RecordColumn]
    public var filters: [Filter] = []
    public var sourceID: String?
    /// The primary key of the last record of the previous page.
    public var after: RecordCursor?
    public var limit = 100

    /// The most records one page answers.
    public static let maximumLimit = 10_000

    /// Reads `parameters` (in request order) against `definition`: `fields=a,b`, `source_id=`, `after=`,
    /// `limit=`, `FIELD=v` and `FIELD.{eq,gt,gte,lt,lte}=v`. Unknown fields are `400 unknown_field` listing the
    /// fields; a value that is not one of its field's type is `400 invalid_filter`.
    public static func parse(_ parameters: [(name: String, value: String)], definition: TenantDefinition) throws -> RecordQuery {
        let all = RecordColumn.all(of: definition)
        func column(_ name: String) throws -> RecordColumn {
            guard let column = all.first(where: { $0.name == name }) else {
                throw ServiceError(.invalid, "unknown_field", "no field \"\(name)\"; the fields are \(all.map(\.name).joined(separator: ", "))")
            }
            return column
        }
        var query = RecordQuery(columns: all)
        for (name, value) in parameters {
            switch name {
            case "format": continue
            case "fields":
                let names = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !names.isEmpty else { throw ServiceError(.invalid, "invalid_parameter", "fields must name at least one field") }
                let chosen = try Set(names.map(column).map(\.name))
                query.columns = all.filter { chosen.contains($0.name) }
            case "source_id": query.sourceID = value
            case "after": query.after = try RecordCursor(encoded: value, keyCount: definition.primaryKey.count)
            case "limit":
                guard let limit = Int(value), (1...maximumLimit).contains(limit) else {
                    throw ServiceError(.invalid, "invalid_parameter", "limit must be an integer from 1 to \(maximumLimit)")
                }
                query.limit = limit
            default:
                // `FIELD.gte=v`, unless the whole name is a field's (names may hold dots).
                var (field, comparison) = (name, Comparison.eq)
                if !all.contains(where: { $0.name == name }), let dot = name.lastIndex(of: "."),
                   let named = Comparison(rawValue: String(name[name.index(after: dot)...])) {
                    (field, comparison) = (String(name[..<dot]), named)
                }
                let target = try column(field)
                query.filters.append(Filter(column: target, comparison: comparison, value: try target.filterValue(value, comparison)))
            }
        }
        return query
    }
}

/// A column of a tenant's table as the records API shows it: a schema field, or a lineage column.
public struct RecordColumn: Sendable, Equatable {
    public var name: String
    public var type: AvroType

    /// The schema's fields in order, then `_sluice_source_id` and `_sluice_ingested_at`.
    static func all(of definition: TenantDefinition) -> [RecordColumn] {
        definition.schema.fields.map { RecordColumn(name: $0.name, type: $0.type) } + [
            RecordColumn(name: TenantStorage.sourceIDColumn, type: .string),
            RecordColumn(name: TenantStorage.ingestedAtColumn, type: .timestampMillis),
        ]
    }

    private static let iso8601Milliseconds = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// `text` checked for this column's type (and made PostgreSQL's form: a timestamp in milliseconds becomes
    /// ISO 8601); ranges are refused on booleans.
    func filterValue(_ text: String, _ comparison: RecordQuery.Comparison) throws -> String {
        func invalid(_ what: String) -> ServiceError {
            ServiceError(.invalid, "invalid_filter", "\(name) compares with \(what), not \"\(text.prefix(64))\"")
        }
        switch type {
        case .string:
            return text
        case .int:
            guard Int32(text) != nil else { throw invalid("a 32-bit integer") }
        case .long:
            guard Int64(text) != nil else { throw invalid("a 64-bit integer") }
        case .float, .double:
            guard let number = Double(text), number.isFinite else { throw invalid("a finite number") }
        case .boolean:
            guard comparison == .eq else {
                throw ServiceError(.invalid, "invalid_filter", "\(name) is a boolean: it takes equality only (true or false)")
            }
            guard text == "true" || text == "false" else { throw invalid("true or false") }
        case .date:
            guard text.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil, (try? Date(text + "T00:00:00Z", strategy: .iso8601)) != nil else {
                throw invalid("a date such as 2026-12-06")
            }
        case .timestampMillis:
            if let milliseconds = Int64(text), (-253_402_300_799_999...253_402_300_799_999).contains(milliseconds) {
                // Whole seconds, then the milliseconds as digits: a Double would round 20 ms to 19.999….
                let (seconds, remainder) = (milliseconds - ((milliseconds % 1000) + 1000) % 1000, ((milliseconds % 1000) + 1000) % 1000)
                let whole = Date(timeIntervalSince1970: Double(seconds / 1000)).formatted(Date.ISO8601FormatStyle())
                return whole.dropLast() + "." + String(remainder + 1000).dropFirst() + "Z"
            }
            guard (try? Self.iso8601Milliseconds.parse(text)) != nil || (try? Date.ISO8601FormatStyle().parse(text)) != nil else {
                throw invalid("an ISO 8601 time or Unix milliseconds")
            }
        }
        return text
    }
}

/// Where a page ends: the primary key of its last record, as text, opaque to clients (base64url of JSON).
public struct RecordCursor: Sendable, Equatable {
    public var key: [String]

    public init(key: [String]) {
        self.key = key
    }

    init(encoded: String, keyCount: Int) throws {
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let key = try? JSONDecoder().decode([String].self, from: data),
              key.count == keyCount else {
            throw ServiceError(.invalid, "invalid_cursor", "after must be the next cursor of an earlier page")
        }
        self.key = key
    }

    public var encoded: String {
        let data = (try? JSONEncoder().encode(key)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
