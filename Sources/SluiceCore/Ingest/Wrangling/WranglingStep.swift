import Foundation

/// One compiled step of a declarative ingest app, applied to a record before schema validation.
enum WranglingStep: Sendable {
    case rename([String: String])
    case cast([String], to: AvroType)
    case trim([String])
    case lower([String])
    case upper([String])
    case defaultIfEmpty([String], value: RecordValue)
    case drop([String])
    case parseTimestamp(String, format: TimestampFormat, dateOnly: Bool)
    case concat([String], into: String, separator: String)
    case filter(String, [FilterCondition])
    /// Handled when loading: duplicate primary keys within a file are rejected, keeping one.
    case dedupe(keepLast: Bool)

    /// Reason code of rows removed by a `filter` step.
    static let filteredCode = "filtered"
    /// Reason code of values a `cast` step cannot convert.
    static let castFailedCode = "cast_failed"

    /// Compiles `op` with its parameters; `schema` tells `parse_timestamp` whether its field is a date.
    static func compile(_ op: String, _ parameters: inout StepParameters, schema: AvroRecordSchema) -> WranglingStep? {
        switch op {
        case "rename":
            guard case .object(let members)? = parameters.optional("fields"), !members.isEmpty else {
                parameters.problem("fields", "must map old names to new names, e.g. {OLD: new}")
                return nil
            }
            var renames: [String: String] = [:]
            for (from, to) in members {
                guard case .string(let name) = to, !name.isEmpty else {
                    parameters.problem("fields.\(from)", "must be the new field name")
                    continue
                }
                renames[from] = name
            }
            return .rename(renames)
        case "cast":
            let fields = parameters.fields()
            let name = parameters.string("to") ?? ""
            guard let type = AvroType(rawValue: name), type != .date, type != .timestampMillis else {
                if !name.isEmpty { parameters.problem("to", "must be string, int, long, float, double or boolean, not \"\(name)\"") }
                return nil
            }
            return .cast(fields, to: type)
        case "trim": return .trim(parameters.fields())
        case "lower": return .lower(parameters.fields())
        case "upper": return .upper(parameters.fields())
        case "default_if_empty":
            let fields = parameters.fields()
            guard let value = parameters.optional("value") else {
                parameters.problem("value", "is required")
                return nil
            }
            return .defaultIfEmpty(fields, value: value.recordValue)
        case "drop": return .drop(parameters.fields())
        case "parse_timestamp":
            let field = parameters.string("field") ?? ""
            var offset: Int64 = 0
            if let text = parameters.string("utc_offset", required: false) {
                if let minutes = TimestampFormat.offsetMinutes(text) { offset = minutes } else {
                    parameters.problem("utc_offset", "\"\(text)\" is not an offset such as +07:00")
                }
            }
            guard let format = parameters.string("format") else { return nil }
            do {
                let parsed = try TimestampFormat(format, utcOffsetMinutes: offset)
                return .parseTimestamp(field, format: parsed, dateOnly: schema.field(named: field)?.type == .date)
            } catch {
                parameters.problem("format", error.message)
                return nil
            }
        case "concat":
            let fields = parameters.fields()
            let separator = parameters.string("separator", required: false) ?? ""
            guard let into = parameters.string("into") else { return nil }
            return .concat(fields, into: into, separator: separator)
        case "filter":
            let field = parameters.string("field") ?? ""
            let conditions = FilterCondition.compile(&parameters)
            if conditions.isEmpty {
                parameters.problem(nil, "names no condition (\(FilterCondition.names.joined(separator: ", ")))")
            }
            return .filter(field, conditions)
        case "dedupe":
            let keep = parameters.string("keep", required: false) ?? "last"
            guard keep == "first" || keep == "last" else {
                parameters.problem("keep", "must be first or last, not \"\(keep)\"")
                return nil
            }
            return .dedupe(keepLast: keep == "last")
        default:
            return nil
        }
    }

    /// Applies the step to `record`; a filtered-out row or a failed cast is a rejection.
    func apply(to record: inout [String: RecordValue]) throws(RecordRejection) {
        switch self {
        case .rename(let renames):
            let moved = renames.compactMap { from, to in record.removeValue(forKey: from).map { (to, $0) } }
            for (to, value) in moved { record[to] = value }
        case .cast(let fields, let type):
            for field in fields {
                guard let value = record[field] else { continue }
                record[field] = try Self.cast(value, field: field, to: type)
            }
        case .trim(let fields):
            Self.mapText(&record, fields) { text in
                var text = text
                return text.withUTF8 { String(decoding: FieldText.trimmedWhitespace($0), as: UTF8.self) }
            }
        case .lower(let fields): Self.mapText(&record, fields) { $0.lowercased() }
        case .upper(let fields): Self.mapText(&record, fields) { $0.uppercased() }
        case .defaultIfEmpty(let fields, let value):
            for field in fields where record[field]?.isEmpty ?? true { record[field] = value }
        case .drop(let fields):
            for field in fields { record.removeValue(forKey: field) }
        case .parseTimestamp(let field, let format, let dateOnly):
            guard let value = record[field], !value.isEmpty, let text = value.text else { return }
            guard let millis = format.millis(text.trimmingCharacters(in: .whitespaces)),
                  let iso = try? FieldText.timestamp(millis: millis) else {
                throw RecordRejection(field: field, code: RecordRejection.Code.invalidTimestamp,
                                      message: "\"\(text.prefix(40))\" does not match the timestamp format")
            }
            record[field] = .string(dateOnly ? String(iso.prefix(10)) : iso)
        case .concat(let fields, let into, let separator):
            let parts = fields.compactMap { record[$0]?.text }
            record[into] = parts.isEmpty ? .null : .string(parts.joined(separator: separator))
        case .filter(let field, let conditions):
            let value = record[field] ?? .null
            if let failed = conditions.first(where: { !$0.holds(for: value) }) {
                throw RecordRejection(field: field, code: Self.filteredCode, message: "the row was filtered out: \(field) \(failed)")
            }
        case .dedupe:
            break
        }
    }

    private static func mapText(_ record: inout [String: RecordValue], _ fields: [String], _ transform: (String) -> String) {
        for field in fields {
            switch record[field] {
            case .text(let text)?: record[field] = .text(transform(text))
            case .string(let text)?: record[field] = .string(transform(text))
            default: continue
            }
        }
    }

    private static func cast(_ value: RecordValue, field: String, to type: AvroType) throws(RecordRejection) -> RecordValue {
        guard let raw = value.text, !value.isEmpty else { return value == .nested ? .nested : .null }
        let text = raw.trimmingCharacters(in: .whitespaces)
        let failure = RecordRejection(field: field, code: castFailedCode, message: "\"\(raw.prefix(40))\" cannot be cast to \(type)")
        switch type {
        case .string:
            return .string(raw)
        case .boolean:
            switch text.lowercased() {
            case "true", "t", "1", "yes", "y": return .bool(true)
            case "false", "f", "0", "no", "n": return .bool(false)
            default: throw failure
            }
        case .int, .long:
            if Int64(text) != nil { return .number(text) }
            guard let number = Double(text), number.isFinite, number.rounded(.towardZero) == number,
                  let whole = Int64(exactly: number) else { throw failure }
            return .number(String(whole))
        case .float, .double:
            guard let number = Double(text), number.isFinite else { throw failure }
            return .number(text.hasPrefix("+") ? String(text.dropFirst()) : text)
        case .date, .timestampMillis:
            return value
        }
    }
}
