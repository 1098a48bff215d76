/// The rows returned by a query, copied out of the libpq result (safe to keep and pass across threads).
public struct PostgresRows: Sequence, Sendable {
    /// Column names in result order.
    public let columns: [String]
    /// The command tag's affected-row count (`PQcmdTuples`), 0 if the command reports none.
    public let affectedRows: Int
    let columnIndex: [String: Int]
    let values: [[String?]]

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil {
            index[name] = position
        }
        self.columnIndex = index
    }

    /// The number of rows.
    public var count: Int { values.count }

    /// Whether the result has no rows.
    public var isEmpty: Bool { values.isEmpty }

    /// The first row, if any.
    public var first: PostgresRow? { values.isEmpty ? nil : self[0] }

    /// The row at `index`.
    public subscript(index: Int) -> PostgresRow {
        PostgresRow(columns: columns, columnIndex: columnIndex, values: values[index])
    }

    public func makeIterator() -> Iterator {
        Iterator(rows: self)
    }

    /// Iterates the rows in order.
    public struct Iterator: IteratorProtocol, Sendable {
        let rows: PostgresRows
        var position = 0

        public mutating func next() -> PostgresRow? {
            guard position < rows.values.count else { return nil }
            defer { position += 1 }
            return rows[position]
        }
    }
}
