/// Checks records against a tenant's schema and renders each field as PostgreSQL text.
///
/// Absent or null values take the field's default, else SQL NULL if the field is nullable, else
/// the record is rejected with `missing_required`. Every failure is a ``RecordRejection``.
public struct RecordValidator: Sendable {
    struct Plan: Sendable {
        let name: String
        let type: AvroType
        /// The value of an absent field: its default, NULL, or a rejection.
        let absent: Result<String?, RecordRejection>
    }

    public let schema: AvroRecordSchema
    let plans: [Plan]

    public init(schema: AvroRecordSchema) {
        self.schema = schema
        plans = schema.fields.map { field in
            let absent: Result<String?, RecordRejection>
            switch field.defaultValue {
            case let value? where value != .null:
                let plan = Plan(name: field.name, type: field.type, absent: .success(nil))
                absent = Result { () throws(RecordRejection) in
                    var row = ValidatedRow()
                    try Self.append(value.recordValue, plan, to: &row)
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
        for (position, plan) in plans.enumerated() {
            switch decoder.members[position] {
            case nil, .null?:
                row.append(try plan.absent.get())
            case .nested?:
                throw Self.wrongType(plan)
            case .bool(let flag)?:
                try Self.appendBool(flag, plan, to: &row)
            case .string(let span)?:
                try decoder.withBytes(span, of: bytes) { (text) throws(RecordRejection) in
                    try Self.appendCell(text, transform: transforms?[position], emptyIsAbsent: false, plan, to: &row)
                }
            case .number(let span)?:
                try decoder.withBytes(span, of: bytes) { (text) throws(RecordRejection) in
                    try Self.appendText(text, plan, emptyIsAbsent: false, to: &row)
                }
            }
        }
    }

    /// Validates a decoded record into `row` (emptied first).
    func validate(_ values: [String: RecordValue], into row: inout ValidatedRow) throws(RecordRejection) {
        row.removeAll()
        for plan in plans {
            guard let value = values[plan.name] else {
                row.append(try plan.absent.get())
                continue
            }
            try Self.append(value, plan, to: &row)
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
            for (position, plan) in plans.enumerated() {
                guard position < mapping.columnIndex.count, let column = mapping.columnIndex[position] else {
                    row.append(try plan.absent.get())
                    continue
                }
                try Self.appendCell(fields[column], transform: transforms?[position], plan, to: &row)
            }
        }
    }

    /// Appends a text cell (CSV, or a JSON string on the byte path) after its transform.
    static func appendCell(_ cell: UnsafeBufferPointer<UInt8>, transform: RecordPipeline.CellTransform?, emptyIsAbsent: Bool = true,
                           _ plan: Plan, to row: inout ValidatedRow) throws(RecordRejection) {
        guard let transform else { return try appendText(cell, plan, emptyIsAbsent: emptyIsAbsent, to: &row) }
        let trimmed = transform.trim ? FieldText.trimmedWhitespace(cell) : cell
        guard let uppercase = transform.uppercase, let text = String(validating: trimmed, as: UTF8.self) else {
            return try appendText(trimmed, plan, emptyIsAbsent: emptyIsAbsent, to: &row)
        }
        try appendText(uppercase ? text.uppercased() : text.lowercased(), plan, emptyIsAbsent: emptyIsAbsent, to: &row)
    }

    static func append(_ value: RecordValue, _ plan: Plan, to row: inout ValidatedRow) throws(RecordRejection) {
        switch value {
        case .null:
            row.append(try plan.absent.get())
        case .nested:
            throw wrongType(plan)
        case .bool(let flag):
            try appendBool(flag, plan, to: &row)
        case .text(let text):
            try appendText(text, plan, emptyIsAbsent: true, to: &row)
        case .string(let text), .number(let text):
            try appendText(text, plan, emptyIsAbsent: false, to: &row)
        }
    }

    private static func wrongType(_ plan: Plan) -> RecordRejection {
        RecordRejection(field: plan.name, code: RecordRejection.Code.wrongType, message: "an array or object cannot be a \(plan.type)")
    }

    static func appendBool(_ flag: Bool, _ plan: Plan, to row: inout ValidatedRow) throws(RecordRejection) {
        switch plan.type {
        case .boolean: row.append(flag ? "t" : "f")
        case .string: row.append(flag ? "true" : "false")
        default: throw RecordRejection(field: plan.name, code: RecordRejection.Code.wrongType, message: "a boolean cannot be a \(plan.type)")
        }
    }

    private static func appendText(_ text: String, _ plan: Plan, emptyIsAbsent: Bool,
                                   to row: inout ValidatedRow) throws(RecordRejection) {
        var text = text
        try text.withUTF8 { bytes in
            Result { () throws(RecordRejection) in try appendText(bytes, plan, emptyIsAbsent: emptyIsAbsent, to: &row) }
        }.get()
    }

    /// Appends `bytes` as a value of the plan's type; empty text is absent for non-strings when
    /// `emptyIsAbsent` (CSV cells).
    static func appendText(_ bytes: UnsafeBufferPointer<UInt8>, _ plan: Plan, emptyIsAbsent: Bool,
                           to row: inout ValidatedRow) throws(RecordRejection) {
        let text = plan.type == .string ? bytes : FieldText.trimmed(bytes)
        if text.isEmpty && emptyIsAbsent && plan.type != .string { return row.append(try plan.absent.get()) }
        do throws(FieldText.Failure) {
            try FieldText.append(text, as: plan.type, to: &row)
        } catch {
            throw RecordRejection(field: plan.name, code: error.code, message: error.message)
        }
    }
}
