/// Where each schema field is found in a CSV file's rows.
public struct CSVHeaderMapping: Sendable, Equatable {
    /// For each schema field, in schema order, its CSV column, or `nil` when the file lacks it.
    public let columnIndex: [Int?]
    /// The number of fields every data row must have.
    public let columnCount: Int
    /// Each column's name for wrangling steps: the schema field it maps to, else its header as written.
    public let columnNames: [String]

    /// Maps by header names: exact matches first, then case-insensitive ones among the remaining
    /// columns. Extra columns are ignored; fields without a column are absent from every row.
    public init(header: [String], schema: AvroRecordSchema) {
        var columnIndex = [Int?](repeating: nil, count: schema.fields.count)
        var used = [Bool](repeating: false, count: header.count)
        for (fieldPosition, field) in schema.fields.enumerated() {
            if let column = header.indices.first(where: { !used[$0] && header[$0] == field.name }) {
                columnIndex[fieldPosition] = column
                used[column] = true
            }
        }
        let lowered = header.map { $0.lowercased() }
        for (fieldPosition, field) in schema.fields.enumerated() where columnIndex[fieldPosition] == nil {
            let name = field.name.lowercased()
            if let column = lowered.indices.first(where: { !used[$0] && lowered[$0] == name }) {
                columnIndex[fieldPosition] = column
                used[column] = true
            }
        }
        var names = header
        for (fieldPosition, column) in columnIndex.enumerated() {
            if let column { names[column] = schema.fields[fieldPosition].name }
        }
        self.columnIndex = columnIndex
        self.columnCount = header.count
        self.columnNames = names
    }

    /// Maps by a header row as parsed; fails with `invalid_header` if a name is not valid UTF-8.
    public init(headerFields: [[UInt8]], schema: AvroRecordSchema) throws(ServiceError) {
        var names: [String] = []
        for (column, field) in headerFields.enumerated() {
            guard let name = String(validating: field, as: UTF8.self) else {
                throw ServiceError(.invalid, "invalid_header", "header column \(column + 1) is not valid UTF-8")
            }
            names.append(name)
        }
        self.init(header: names, schema: schema)
    }

    /// Maps a file without a header: columns are the schema's fields in order.
    public init(positionalFor schema: AvroRecordSchema) {
        columnIndex = Array(schema.fields.indices)
        columnCount = schema.fields.count
        columnNames = schema.fields.map(\.name)
    }
}
