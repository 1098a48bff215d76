import Foundation

/// Deterministic sample data for a tenant's schema: the same tenant, seed and row count always give
/// the same bytes. Primary-key fields are derived from the row number, so rows never collide, and
/// numbers stay within the tenant's `range` quality rules, so generated rows pass them.
public struct SampleDataGenerator: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case csv, ndjson
    }

    private let definition: TenantDefinition
    private let seed: UInt64
    /// Bounds from `range` quality rules, by field.
    private let ranges: [String: ClosedRange<Double>]

    public init(definition: TenantDefinition, seed: UInt64 = 42) {
        self.definition = definition
        self.seed = seed
        var ranges: [String: ClosedRange<Double>] = [:]
        for case .object(let rule) in definition.ingestApp.quality where rule["rule"] == .string("range") {
            var minimum = -Double(Int32.max), maximum = Double(Int32.max)
            if case .number(let value)? = rule["min"] { minimum = value }
            if case .number(let value)? = rule["max"] { maximum = value }
            guard minimum <= maximum else { continue }
            var names: [String] = []
            if case .string(let name)? = rule["field"] { names.append(name) }
            if case .array(let items)? = rule["fields"] { for case .string(let name) in items { names.append(name) } }
            for name in names { ranges[name] = minimum...maximum }
        }
        self.ranges = ranges
    }

    /// Writes `rows` records, calling `emit` with chunks of about 64 KiB.
    public func generate(rows: Int, format: Format, _ emit: ([UInt8]) throws -> Void) rethrows {
        var random = SplitMix64(seed: seed)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(80 * 1024)
        let fields = definition.schema.fields
        let keys = Set(definition.primaryKey)
        if format == .csv && definition.csv.header {
            buffer += Array(fields.map(\.name).map(csvEscaped).joined(separator: String(UnicodeScalar(definition.csv.delimiter))).utf8)
            buffer.append(UInt8(ascii: "\n"))
        }
        for row in 0..<rows {
            let values = fields.map { field in
                value(for: field, row: row, isKey: keys.contains(field.name), random: &random)
            }
            switch format {
            case .csv:
                buffer += Array(values.map { $0.text.map(csvEscaped) ?? "" }
                    .joined(separator: String(UnicodeScalar(definition.csv.delimiter))).utf8)
            case .ndjson:
                let members = zip(fields, values).map { field, value in "\(TextEscaping.jsonString(field.name)):\(value.json)" }
                buffer += Array("{\(members.joined(separator: ","))}".utf8)
            }
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count >= 64 * 1024 {
                try emit(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try emit(buffer) }
    }

    private struct Value {
        /// The text form (CSV); `nil` for null.
        let text: String?
        /// The JSON literal.
        let json: String
    }

    private func value(for field: AvroField, row: Int, isKey: Bool, random: inout SplitMix64) -> Value {
        if field.nullable && !isKey && random.next() % 10 == 0 { return Value(text: nil, json: "null") }
        let draw = random.next()
        if !isKey, let range = ranges[field.name] {
            switch field.type {
            case .int, .long:
                let low = Int(range.lowerBound.rounded(.up)), high = Int(range.upperBound.rounded(.down))
                let number = low + Int(draw % UInt64(max(1, high - low + 1)))
                return Value(text: String(number), json: String(number))
            case .float, .double:
                let number = range.lowerBound + Double(draw % 1_000_001) / 1_000_000 * (range.upperBound - range.lowerBound)
                return Value(text: String(number), json: String(number))
            default:
                break
            }
        }
        switch field.type {
        case .string:
            let text = isKey ? "\(field.name.lowercased())-\(row)" : "\(field.name.lowercased())-\(draw % 1000)"
            return Value(text: text, json: TextEscaping.jsonString(text))
        case .int:
            let number = isKey ? row % Int(Int32.max) : Int(draw % 100_000)
            return Value(text: String(number), json: String(number))
        case .long:
            let number = isKey ? row : Int(draw % 10_000_000_000)
            return Value(text: String(number), json: String(number))
        case .float, .double:
            let number = Double(draw % 1_000_000) / 100
            return Value(text: String(number), json: String(number))
        case .boolean:
            let flag = draw % 2 == 0
            return Value(text: String(flag), json: String(flag))
        case .date:
            let day = isKey ? row % 36_500 : Int(draw % 3650)
            let text = Self.dateFormatter.string(from: Date(timeIntervalSince1970: 1_600_000_000 + Double(day) * 86_400))
            return Value(text: text, json: TextEscaping.jsonString(text))
        case .timestampMillis:
            let milliseconds = 1_700_000_000_000 + (isKey ? row * 1000 : Int(draw % 86_400_000))
            return Value(text: String(milliseconds), json: String(milliseconds))
        }
    }

    private static let dateFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter
    }()

    private func csvEscaped(_ text: String) -> String {
        TextEscaping.csvField(text, delimiter: Character(UnicodeScalar(definition.csv.delimiter)),
                              quote: Character(UnicodeScalar(definition.csv.quote)))
    }
}

/// A small, fast, seedable generator (SplitMix64), for reproducible sample data (and test inputs).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
