/// Checks records against a tenant's schema and renders each field as PostgreSQL text.
///
/// Absent or null values take the field's default, else SQL NULL if the field is nullable, else
/// the record is rejected with `missing_required`. Every failure is a ``RecordRejection``.
public struct RecordValidator: Sendable {
    private struct Plan: Sendable {
        let name: String
        let type: AvroType
        /// The value of an absent field: its default, NULL, or a rejection.
        let absent: Result<String?, RecordRejection>
    }

    public let schema: AvroRecordSchema
    /// One per schema field. The hot paths read a plan's fields in place by position (`plans[i].type`)
    /// rather than binding whole plans, which would retain their strings for every field of every row.
    private let plans: [Plan]

    public init(schema: AvroRecordSchema) {
        self.schema = schema
        plans = schema.fields.map { field in
            let absent: Result<String?, RecordRejection>
            switch field.defaultValue {
            case let value? where value != .null:
                let plain = RecordValidator(schema: schema, plans: [Plan(name: field.name, type: field.type, absent: .success(nil))])
                absent = Result { () throws(RecordRejection) in
                    var row = ValidatedRow()
                    try plain.append(value.recordValue, at: 0, to: &row)
                    return row.string(0)
                }
            default:
                absent = field.nullable
                    ? .success(nil)
                    : .failure(RecordRejection(field: field.name, code: RecordRejection.Code.missingRequired,
                                               message: "the required field '\(field.name)' has no value"))
            }
            return Plan(name: field.name, type: field.type, absent: absent)
        }
    }

    private init(schema: AvroRecordSchema, plans: [Plan]) {
        self.schema = schema
        self.plans = plans
    }

    /// Validates a decoded JSON record; members not in the schema are ignored.
    /// Returns the text of each schema field in schema order, `nil` meaning NULL.
    public func validate(_ values: [String: RecordValue]) -> Result<[String?], RecordRejection> {
        Result { () throws(RecordRejection) in
            var row = ValidatedRow()
            try validate(values, into: &row)
            return row.strings
        }
    }

    /// Validates one CSV row located by `mapping` (built for this schema), straight from its bytes.
    /// Returns the text of each schema field in schema order, `nil` meaning NULL.
    public func validate(csvFields: [[UInt8]], mapping: CSVHeaderMapping) -> Result<[String?], RecordRejection> {
        Result { () throws(RecordRejection) in
            var row = ValidatedRow()
            try validate(csv: CSVParser.Record(fields: csvFields, line: 1), mapping: mapping, transforms: nil, into: &row)
            return row.strings
        }
    }

    /// Validates one JSON record straight from its bytes, without a dictionary per record (the path
    /// used when no wrangling step needs whole records). Returns the same as decoding it with
    /// ``JSONRecordDecoder`` and validating the members.
    public func validate(json: [UInt8]) -> Result<[String?], RecordRejection> {
        Result { () throws(RecordRejection) in
            var decoder = JSONFieldDecoder(schema: schema)
            var row = ValidatedRow()
            try json.withUnsafeBufferPointer { (bytes) throws(RecordRejection) in
                try decoder.decode(bytes)
                try validate(json: decoder, of: bytes, transforms: nil, into: &row)
            }
            return row.strings
        }
    }

    /// Validates the record `decoder` decoded last, from `bytes`, into `row` (emptied first);
    /// `transforms` trims or changes the case of string members first (see ``RecordPipeline``).
    func validate(json decoder: JSONFieldDecoder, of bytes: UnsafeBufferPointer<UInt8>,
                  transforms: [RecordPipeline.CellTransform?]?, into row: inout ValidatedRow) throws(RecordRejection) {
        row.removeAll()
        for position in plans.indices {
            switch decoder.members[position] {
            case nil, .null?:
                row.append(try plans[position].absent.get())
            case .nested?:
                throw wrongType(at: position)
            case .bool(let flag)?:
                try appendBool(flag, at: position, to: &row)
            case .string(let span)?:
                try decoder.withBytes(span, of: bytes) { (text) throws(RecordRejection) in
                    try appendCell(text, transform: transforms?[position], emptyIsAbsent: false, at: position, to: &row)
                }
            case .number(let span)?:
                try decoder.withBytes(span, of: bytes) { (text) throws(RecordRejection) in
                    try appendText(text, at: position, emptyIsAbsent: false, to: &row)
                }
            }
        }
    }

    /// Validates a decoded record into `row` (emptied first).
    func validate(_ values: [String: RecordValue], into row: inout ValidatedRow) throws(RecordRejection) {
        row.removeAll()
        for position in plans.indices {
            guard let value = values[plans[position].name] else {
                row.append(try plans[position].absent.get())
                continue
            }
            try append(value, at: position, to: &row)
        }
    }

    /// Validates one CSV row into `row` (emptied first); `transforms` trims or changes the case of
    /// cells first (see ``RecordPipeline``).
    func validate(csv record: CSVParser.Record, mapping: CSVHeaderMapping,
                  transforms: [RecordPipeline.CellTransform?]?, into row: inout ValidatedRow) throws(RecordRejection) {
        guard record.count == mapping.columnCount else {
            throw RecordRejection(field: nil, code: RecordRejection.Code.fieldCountMismatch,
                                  message: "the row has \(record.count) fields, the header \(mapping.columnCount)")
        }
        row.removeAll()
        try record.withFields { (fields) throws(RecordRejection) in
            for position in plans.indices {
                guard position < mapping.columnIndex.count, let column = mapping.columnIndex[position] else {
                    row.append(try plans[position].absent.get())
                    continue
                }
                try appendCell(fields[column], transform: transforms?[position], at: position, to: &row)
            }
        }
    }

    /// Appends a text cell (CSV, or a JSON string on the byte path) after its transform.
    private func appendCell(_ cell: UnsafeBufferPointer<UInt8>, transform: RecordPipeline.CellTransform?, emptyIsAbsent: Bool = true,
                            at position: Int, to row: inout ValidatedRow) throws(RecordRejection) {
        guard let transform else { return try appendText(cell, at: position, emptyIsAbsent: emptyIsAbsent, to: &row) }
        let trimmed = transform.trim ? FieldText.trimmedWhitespace(cell) : cell
        guard let uppercase = transform.uppercase, let text = String(validating: trimmed, as: UTF8.self) else {
            return try appendText(trimmed, at: position, emptyIsAbsent: emptyIsAbsent, to: &row)
        }
        try appendText(uppercase ? text.uppercased() : text.lowercased(), at: position, emptyIsAbsent: emptyIsAbsent, to: &row)
    }

    private func append(_ value: RecordValue, at position: Int, to row: inout ValidatedRow) throws(RecordRejection) {
        switch value {
        case .null:
            row.append(try plans[position].absent.get())
        case .nested:
            throw wrongType(at: position)
        case .bool(let flag):
            try appendBool(flag, at: position, to: &row)
        case .text(let text):
            try appendText(text, at: position, emptyIsAbsent: true, to: &row)
        case .string(let text), .number(let text):
            try appendText(text, at: position, emptyIsAbsent: false, to: &row)
        }
    }

    private func wrongType(at position: Int) -> RecordRejection {
        RecordRejection(field: plans[position].name, code: RecordRejection.Code.wrongType,
                        message: "an array or object cannot be a \(plans[position].type)")
    }

    private func appendBool(_ flag: Bool, at position: Int, to row: inout ValidatedRow) throws(RecordRejection) {
        switch plans[position].type {
        case .boolean: row.append(flag ? "t" : "f")
        case .string: row.append(flag ? "true" : "false")
        default:
            throw RecordRejection(field: plans[position].name, code: RecordRejection.Code.wrongType,
                                  message: "a boolean cannot be a \(plans[position].type)")
        }
    }

    private func appendText(_ text: String, at position: Int, emptyIsAbsent: Bool, to row: inout ValidatedRow) throws(RecordRejection) {
        var text = text
        try text.withUTF8 { bytes in
            Result { () throws(RecordRejection) in try appendText(bytes, at: position, emptyIsAbsent: emptyIsAbsent, to: &row) }
        }.get()
    }

    /// Appends `bytes` as a value of the field's type; empty text is absent for non-strings when
    /// `emptyIsAbsent` (CSV cells).
    private func appendText(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int, emptyIsAbsent: Bool,
                            to row: inout ValidatedRow) throws(RecordRejection) {
        let type = plans[position].type
        let text = type == .string ? bytes : FieldText.trimmed(bytes)
        if text.isEmpty && emptyIsAbsent && type != .string { return row.append(try plans[position].absent.get()) }
        do throws(FieldText.Failure) {
            try FieldText.append(text, as: type, to: &row)
        } catch {
            throw RecordRejection(field: plans[position].name, code: error.code, message: error.message)
        }
    }
}
