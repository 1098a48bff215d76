import Foundation

/// A query parameter, sent to the server in PostgreSQL's text format.
///
/// Build values from standard types with `PostgresValue(x)` (optionals become `.null`), or use
/// literals: `["name", 42, 1.5, true, nil]`.
public enum PostgresValue: Sendable, Hashable {
    /// SQL `NULL`.
    case null
    /// A value in PostgreSQL's text representation.
    case text(String)

    /// Wraps any encodable value; `nil` becomes `.null`.
    public init(_ value: (some PostgresEncodable)?) {
        self = value?.postgresValue ?? .null
    }

    /// An array parameter (cast it in SQL, e.g. `$1::text[]`): each element quoted and escaped, `nil` as `NULL`.
    public static func array(_ elements: [String?]) -> PostgresValue {
        .text("{" + elements.map { element in
            guard let element else { return "NULL" }
            return "\"" + element.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: ",") + "}")
    }
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int) { self = .text(String(value)) }
    public init(floatLiteral value: Double) { self = value.postgresValue }
    public init(booleanLiteral value: Bool) { self = value.postgresValue }
    public init(nilLiteral: ()) { self = .null }
}

/// A type that can be bound as a query parameter.
public protocol PostgresEncodable: Sendable {
    /// The value's text-format representation.
    var postgresValue: PostgresValue { get }
}

extension String: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(self) }
}

extension Int: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Int64: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Int32: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Double: PostgresEncodable {
    public var postgresValue: PostgresValue {
        if isNaN { return .text("NaN") }
        if isInfinite { return .text(self > 0 ? "Infinity" : "-Infinity") }
        return .text(String(self))
    }
}

extension Bool: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(self ? "t" : "f") }
}

extension Date: PostgresEncodable {
    /// ISO 8601 in UTC with microseconds, accepted by `timestamptz`.
    public var postgresValue: PostgresValue { .text(PostgresTimestamp.format(self)) }
}

extension [UInt8]: PostgresEncodable {
    /// `bytea` in hex format (`\x0a0b...`).
    public var postgresValue: PostgresValue {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        bytes.reserveCapacity(2 + count * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return .text(String(decoding: bytes, as: UTF8.self))
    }
}
