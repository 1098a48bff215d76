/// Checks records against a tenant's schema and renders each field as PostgreSQL COPY text.
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
    private let plans: [Plan]

    public init(schema: AvroRecordSchema) {
        self.schema = schema
        plans = schema.fields.map { field in
            let absent: Result<String?, RecordRejection>
            switch field.defaultValue {
            case let value? where value != .null:
                absent = Result { () throws(RecordRejection) in
                    try Self.convert(value.recordValue, name: field.name, type: field.type, absent: .success(nil))
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
    /// Returns the COPY text of each schema field in schema order, `nil` meaning NULL.
    public func validate(_ values: [String: RecordValue]) -> Result<[String?], RecordRejection> {
        Result { () throws(RecordRejection) in
            var row: [String?] = []
            row.reserveCapacity(plans.count)
            for plan in plans {
                guard let value = values[plan.name] else {
                    row.append(try plan.absent.get())
                    continue
                }
                row.append(try Self.convert(value, name: plan.name, type: plan.type, absent: plan.absent))
            }
            return row
        }
    }

    /// Validates one CSV row located by `mapping` (built for this schema), straight from its bytes.
    /// Returns the COPY text of each schema field in schema order, `nil` meaning NULL.
    public func validate(csvFields: [[UInt8]], mapping: CSVHeaderMapping) -> Result<[String?], RecordRejection> {
        validate(csvFields: csvFields, mapping: mapping, transforms: nil)
    }

    /// As ``validate(csvFields:mapping:)``; `transforms` trims or changes the case of cells first
    /// (see ``RecordPipeline``).
    func validate(csvFields: [[UInt8]], mapping: CSVHeaderMapping,
                  transforms: [RecordPipeline.CellTransform?]?) -> Result<[String?], RecordRejection> {
        Result { () throws(RecordRejection) in
            guard csvFields.count == mapping.columnCount else {
                throw RecordRejection(field: nil, code: RecordRejection.Code.fieldCountMismatch,
                                      message: "the row has \(csvFields.count) fields, the header \(mapping.columnCount)")
            }
            var row: [String?] = []
            row.reserveCapacity(plans.count)
            for (position, plan) in plans.enumerated() {
                guard position < mapping.columnIndex.count, let column = mapping.columnIndex[position] else {
                    row.append(try plan.absent.get())
                    continue
                }
                if let transform = transforms?[position] {
                    row.append(try Self.convertCell(csvFields[column], transform, plan).get())
                    continue
                }
                row.append(try csvFields[column].withUnsafeBufferPointer { cell in
                    Self.convertText(cell, name: plan.name, type: plan.type, absent: plan.absent, emptyIsAbsent: true)
                }.get())
            }
            return row
        }
    }

    private static func convertCell(_ cell: [UInt8], _ transform: RecordPipeline.CellTransform,
                                    _ plan: Plan) -> Result<String?, RecordRejection> {
        cell.withUnsafeBufferPointer { bytes in
            let trimmed = transform.trim ? FieldText.trimmedWhitespace(bytes) : bytes
            guard let uppercase = transform.uppercase else {
                return convertText(trimmed, name: plan.name, type: plan.type, absent: plan.absent, emptyIsAbsent: true)
            }
            guard let text = String(validating: trimmed, as: UTF8.self) else {
                return convertText(trimmed, name: plan.name, type: plan.type, absent: plan.absent, emptyIsAbsent: true)
            }
            var changed = uppercase ? text.uppercased() : text.lowercased()
            return changed.withUTF8 { convertText($0, name: plan.name, type: plan.type, absent: plan.absent, emptyIsAbsent: true) }
        }
    }

    private static func convert(_ value: RecordValue, name: String, type: AvroType,
                                absent: Result<String?, RecordRejection>) throws(RecordRejection) -> String? {
        switch value {
        case .null:
            return try absent.get()
        case .nested:
            throw RecordRejection(field: name, code: RecordRejection.Code.wrongType, message: "an array or object cannot be a \(type)")
        case .bool(let flag):
            switch type {
            case .boolean: return flag ? "t" : "f"
            case .string: return flag ? "true" : "false"
            default: throw RecordRejection(field: name, code: RecordRejection.Code.wrongType, message: "a boolean cannot be a \(type)")
            }
        case .text(var text):
            return try text.withUTF8 { convertText($0, name: name, type: type, absent: absent, emptyIsAbsent: true) }.get()
        case .string(var text), .number(var text):
            return try text.withUTF8 { convertText($0, name: name, type: type, absent: absent, emptyIsAbsent: false) }.get()
        }
    }

    private static func convertText(_ bytes: UnsafeBufferPointer<UInt8>, name: String, type: AvroType,
                                    absent: Result<String?, RecordRejection>, emptyIsAbsent: Bool) -> Result<String?, RecordRejection> {
        let text = type == .string ? bytes : FieldText.trimmed(bytes)
        if text.isEmpty && emptyIsAbsent && type != .string { return absent }
        do throws(FieldText.Failure) {
            return .success(try FieldText.convert(text, to: type))
        } catch {
            return .failure(RecordRejection(field: name, code: error.code, message: error.message))
        }
    }
}
