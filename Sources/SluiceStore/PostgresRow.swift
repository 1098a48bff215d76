/// One result row; columns are addressed by name or position and decoded from text.
///
/// Decoding returns nil for SQL `NULL` and throws `decode_failed` for an unknown column or a value that
/// is not valid for the requested type.
public struct PostgresRow: Sendable {
    /// Column names in result order.
    public let columns: [String]
    let columnIndex: [String: Int]
    let values: [String?]

    /// The raw text value at `index` (nil for `NULL`).
    public func text(at index: Int) throws -> String? {
        guard values.indices.contains(index) else {
            throw PostgresError(
                code: .decodeFailed, message: "column index \(index) out of range (\(values.count) columns)")
        }
        return values[index]
    }

    /// The raw text value of column `name` (nil for `NULL`).
    public func text(_ name: String) throws -> String? {
        try text(at: position(of: name))
    }

    /// Decodes the value at `index`; nil for `NULL`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, at index: Int) throws -> T? {
        guard let text = try text(at: index) else { return nil }
        guard let value = T(postgresText: text) else {
            let name = columns[index]
            throw PostgresError(
                code: .decodeFailed,
                message: "column \"\(name)\" (index \(index)): cannot decode \(T.self) from \"\(text.prefix(64))\"")
        }
        return value
    }

    /// Decodes the value of column `name`; nil for `NULL`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T? {
        try decode(type, at: position(of: name))
    }

    /// Shorthand for ``decode(_:_:)``: `try row["id", as: Int.self]`.
    public subscript<T: PostgresDecodable>(name: String, as type: T.Type) -> T? {
        get throws { try decode(type, name) }
    }

    /// Shorthand for ``decode(_:at:)``: `try row[0, as: Int.self]`.
    public subscript<T: PostgresDecodable>(index: Int, as type: T.Type) -> T? {
        get throws { try decode(type, at: index) }
    }

    private func position(of name: String) throws -> Int {
        guard let index = columnIndex[name] else {
            throw PostgresError(
                code: .decodeFailed,
                message: "no column named \"\(name)\" (columns: \(columns.joined(separator: ", ")))")
        }
        return index
    }
}
