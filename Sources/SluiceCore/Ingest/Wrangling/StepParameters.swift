/// Reads the members of one declarative step or quality rule, collecting problems with their paths.
struct StepParameters {
    let members: [String: JSONValue]
    let path: String
    private(set) var problems: [(path: String, message: String)] = []
    private var known: Set<String>

    init(_ members: [String: JSONValue], path: String, name: String) {
        self.members = members
        self.path = path
        known = [name]
    }

    mutating func problem(_ key: String?, _ message: String) {
        problems.append((key.map { "\(path).\($0)" } ?? path, message))
    }

    /// Reports members no accessor asked for; call last.
    mutating func reportUnknown() {
        for key in members.keys.sorted() where !known.contains(key) { problem(key, "unknown key") }
    }

    mutating func optional(_ key: String) -> JSONValue? {
        known.insert(key)
        return members[key]
    }

    mutating func string(_ key: String, required: Bool = true) -> String? {
        guard let value = optional(key) else {
            if required { problem(key, "is required") }
            return nil
        }
        guard case .string(let text) = value else {
            problem(key, "must be a string, not \(value.kindName)")
            return nil
        }
        return text
    }

    mutating func number(_ key: String) -> Double? {
        guard let value = optional(key) else { return nil }
        guard case .number(let number) = value else {
            problem(key, "must be a number, not \(value.kindName)")
            return nil
        }
        return number
    }

    /// Field names given as `fields: [a, b]` or `field: a`; at least one is required.
    mutating func fields() -> [String] {
        if let single = optional("field") {
            guard case .string(let name) = single, !name.isEmpty else {
                problem("field", "must be a field name")
                return []
            }
            return [name]
        }
        guard let list = optional("fields") else {
            problem(nil, "names no field (give field or fields)")
            return []
        }
        return strings("fields", list)
    }

    /// A non-empty array of strings.
    mutating func strings(_ key: String, _ value: JSONValue) -> [String] {
        guard case .array(let items) = value, !items.isEmpty else {
            problem(key, "must be a non-empty array")
            return []
        }
        return items.compactMap {
            guard case .string(let text) = $0 else {
                problem(key, "must hold strings only")
                return nil
            }
            return text
        }
    }
}

extension JSONValue {
    /// The value as record text: strings as they are, numbers as literals, booleans as words.
    var recordValue: RecordValue {
        switch self {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .number(let number): .number(JSONValue.exactInteger(number).map(String.init) ?? "\(number)")
        case .string(let text): .string(text)
        case .array, .object: .nested
        }
    }

    /// Scalar values as text, for comparisons; `nil` for null, arrays and objects.
    var scalarText: String? { recordValue.text }
}

extension RecordValue {
    /// The value as text; `nil` for null and nested values.
    var text: String? {
        switch self {
        case .text(let text), .string(let text), .number(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .null, .nested: nil
        }
    }

    /// Whether the value is null or empty text.
    var isEmpty: Bool {
        switch self {
        case .null: true
        case .text(let text), .string(let text): text.isEmpty
        default: false
        }
    }
}
