import Foundation

/// Walks a generic ``JSONValue`` tree, converting its parts and collecting every problem with its path
/// instead of stopping at the first.
struct DefinitionReader {
    private(set) var problems: [String] = []
    private(set) var warnings: [String] = []

    mutating func problem(_ path: String, _ message: String) {
        problems.append("\(path): \(message)")
    }

    mutating func warning(_ path: String, _ message: String) {
        warnings.append("\(path): \(message)")
    }

    static func path(_ base: String, _ key: String) -> String {
        base.isEmpty ? key : base + "." + key
    }

    static func path(_ base: String, _ index: Int) -> String {
        base + "[\(index)]"
    }

    /// The object at `path`, with unknown keys reported; `nil` (and a problem) if it is not an object.
    mutating func object(_ value: JSONValue, at path: String, allowed: [String]) -> [String: JSONValue]? {
        guard case .object(let members) = value else {
            problem(path.isEmpty ? "(document)" : path, "must be an object, not \(value.kindName)")
            return nil
        }
        for key in members.keys.sorted() where !allowed.contains(key) {
            problem(Self.path(path, key), "unknown key")
        }
        return members
    }

    /// Reports a missing required value.
    mutating func required(_ value: JSONValue?, at path: String) -> JSONValue? {
        if value == nil { problem(path, "is required") }
        return value
    }

    mutating func string(_ value: JSONValue, at path: String, allowEmpty: Bool = false) -> String? {
        guard case .string(let text) = value else {
            problem(path, "must be a string, not \(value.kindName)")
            return nil
        }
        if !allowEmpty && text.isEmpty {
            problem(path, "must not be empty")
            return nil
        }
        return text
    }

    /// A boolean, also accepting the strings `"true"` and `"false"` (as the seed documents write them).
    mutating func bool(_ value: JSONValue, at path: String) -> Bool? {
        switch value {
        case .bool(let flag): return flag
        case .string("true"): return true
        case .string("false"): return false
        default:
            problem(path, "\(value.quoted) is not a boolean")
            return nil
        }
    }

    /// An integer of at least `minimum`, also accepting numeric strings such as `"7"`.
    mutating func integer(_ value: JSONValue, at path: String, minimum: Int = 0) -> Int? {
        let number: Int?
        switch value {
        case .number: number = value.integerValue
        case .string(let text): number = Int(text.trimmingCharacters(in: .whitespaces))
        default: number = nil
        }
        guard let number else {
            problem(path, "\(value.quoted) is not an integer")
            return nil
        }
        guard number >= minimum else {
            problem(path, "must be at least \(minimum)")
            return nil
        }
        return number
    }

    /// A positive byte size: an integer or a string with a unit (see ``ByteSize``).
    mutating func size(_ value: JSONValue, at path: String) -> Int? {
        let bytes: Int?
        switch value {
        case .number: bytes = value.integerValue.flatMap { $0 >= 0 ? $0 : nil }
        case .string(let text): bytes = ByteSize.parse(text)
        default: bytes = nil
        }
        guard let bytes else {
            problem(path, "\(value.quoted) is not a size")
            return nil
        }
        guard bytes > 0 else {
            problem(path, "must be greater than zero")
            return nil
        }
        return bytes
    }

    /// An array of strings.
    mutating func strings(_ value: JSONValue, at path: String) -> [String]? {
        guard case .array(let items) = value else {
            problem(path, "must be an array, not \(value.kindName)")
            return nil
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            if let text = string(item, at: Self.path(path, index), allowEmpty: true) { result.append(text) }
        }
        return result.count == items.count ? result : nil
    }
}
