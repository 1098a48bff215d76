import Foundation

/// Converts one field's input to the COPY text of its Avro type, or says why it cannot.
struct FieldConverter: Sendable {
    struct Failure: Error {
        let code: String
        let message: String
    }

    let field: AvroField
    /// The COPY text of the field's default, if it has one.
    let defaultText: String??

    init(field: AvroField) {
        self.field = field
        switch field.defaultValue {
        case .none: defaultText = .none
        case .some(.null): defaultText = .some(nil)
        case .some(let value): defaultText = .some(try? Self.convert(value.textForm, type: field.type))
        }
    }

    /// `text` is the field's textual input; `nil` means absent or null.
    func convert(_ text: String?, emptyIsNull: Bool) throws(Failure) -> String? {
        guard let text, !(emptyIsNull && text.isEmpty && field.type != .string) else {
            if let defaultText { return defaultText }
            if field.nullable { return nil }
            throw Failure(code: "missing_required", message: "\(field.name) is required")
        }
        do {
            return try Self.convert(text, type: field.type)
        } catch {
            throw Failure(code: error.code, message: "\(field.name): \(error.message)")
        }
    }

    static func convert(_ text: String, type: AvroType) throws(Failure) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch type {
        case .string:
            return text
        case .int:
            guard let value = Int64(trimmed) else { throw Failure(code: "invalid_int", message: "\"\(text)\" is not an integer") }
            guard value >= Int64(Int32.min) && value <= Int64(Int32.max) else {
                throw Failure(code: "out_of_range", message: "\(value) does not fit a 32-bit int")
            }
            return String(value)
        case .long:
            guard let value = Int64(trimmed) else { throw Failure(code: "invalid_int", message: "\"\(text)\" is not an integer") }
            return String(value)
        case .float, .double:
            guard let value = Double(trimmed), value.isFinite else {
                throw Failure(code: "invalid_number", message: "\"\(text)\" is not a finite number")
            }
            return String(value)
        case .boolean:
            switch trimmed.lowercased() {
            case "true", "t", "1", "yes", "y": return "t"
            case "false", "f", "0", "no", "n": return "f"
            default: throw Failure(code: "invalid_boolean", message: "\"\(text)\" is not a boolean")
            }
        case .date:
            if let days = Int64(trimmed) {
                return dayFormat.format(Date(timeIntervalSince1970: Double(days) * 86_400))
            }
            guard let date = try? Date(trimmed, strategy: dayParse), dayFormat.format(date) == trimmed else {
                throw Failure(code: "invalid_date", message: "\"\(text)\" is not a date (YYYY-MM-DD)")
            }
            return trimmed
        case .timestampMillis:
            if let milliseconds = Int64(trimmed) {
                return timestampFormat.format(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            }
            let normalised = trimmed.count == 19 && trimmed.dropFirst(10).first == " "
                ? trimmed.replacingOccurrences(of: " ", with: "T") + "Z" : trimmed
            if let date = (try? Date(normalised, strategy: timestampParse)) ?? (try? Date(normalised, strategy: .iso8601)) {
                return timestampFormat.format(date)
            }
            throw Failure(code: "invalid_timestamp", message: "\"\(text)\" is not epoch milliseconds or an ISO-8601 time")
        }
    }

    private static let dayFormat = Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day()
    private static let dayParse = Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day()
    private static let timestampFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    private static let timestampParse = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

extension JSONValue {
    /// The value as field input text: strings as they are, numbers and booleans in JSON form.
    var textForm: String {
        switch self {
        case .null: ""
        case .bool(let value): value ? "true" : "false"
        case .number(let value): value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): value
        case .array, .object: ""
        }
    }
}
