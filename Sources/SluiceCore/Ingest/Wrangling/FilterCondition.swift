/// One condition of a `filter` step or a quality rule on a value: rows whose value fails it are
/// removed (filter) or rejected (quality).
enum FilterCondition: Sendable, CustomStringConvertible {
    case equals(String)
    case notEquals(String)
    case oneOf(Set<String>)
    case noneOf(Set<String>)
    case greaterThan(Double, orEqual: Bool)
    case lessThan(Double, orEqual: Bool)
    case matches(PatternMatcher)
    case notEmpty

    /// The keys a filter step may use, in documentation order.
    static let names = ["equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "matches", "not_empty"]

    /// Every condition named in `parameters`.
    static func compile(_ parameters: inout StepParameters) -> [FilterCondition] {
        var conditions: [FilterCondition] = []
        for name in names {
            guard let value = parameters.optional(name) else { continue }
            switch name {
            case "equals", "not_equals":
                guard let text = value.scalarText else {
                    parameters.problem(name, "must be a string, number or boolean")
                    continue
                }
                conditions.append(name == "equals" ? .equals(text) : .notEquals(text))
            case "in", "not_in":
                guard case .array(let items) = value, !items.isEmpty, items.allSatisfy({ $0.scalarText != nil }) else {
                    parameters.problem(name, "must be a non-empty array of strings or numbers")
                    continue
                }
                let set = Set(items.compactMap(\.scalarText))
                conditions.append(name == "in" ? .oneOf(set) : .noneOf(set))
            case "gt", "gte", "lt", "lte":
                guard case .number(let bound) = value else {
                    parameters.problem(name, "must be a number, not \(value.kindName)")
                    continue
                }
                conditions.append(name.hasPrefix("g") ? .greaterThan(bound, orEqual: name.hasSuffix("e"))
                                                      : .lessThan(bound, orEqual: name.hasSuffix("e")))
            case "matches":
                guard case .string(let pattern) = value else {
                    parameters.problem(name, "must be a regular expression string")
                    continue
                }
                do {
                    conditions.append(.matches(try PatternMatcher(pattern)))
                } catch {
                    parameters.problem(name, error.message)
                }
            default:
                guard value == .bool(true) else {
                    parameters.problem(name, "must be true")
                    continue
                }
                conditions.append(.notEmpty)
            }
        }
        return conditions
    }

    /// Whether `value` satisfies the condition; null and nested values satisfy only `not_equals`/`not_in`.
    func holds(for value: RecordValue) -> Bool {
        guard let text = value.text else {
            switch self {
            case .notEquals, .noneOf: return true
            default: return false
            }
        }
        return holds(forText: text)
    }

    /// Whether non-null `text` satisfies the condition.
    func holds(forText text: String) -> Bool {
        switch self {
        case .equals(let expected): return text == expected
        case .notEquals(let expected): return text != expected
        case .oneOf(let set): return set.contains(text)
        case .noneOf(let set): return !set.contains(text)
        case .greaterThan(let bound, let orEqual):
            guard let number = Double(text) else { return false }
            return orEqual ? number >= bound : number > bound
        case .lessThan(let bound, let orEqual):
            guard let number = Double(text) else { return false }
            return orEqual ? number <= bound : number < bound
        case .matches(let matcher): return matcher.matches(text)
        case .notEmpty: return !text.isEmpty
        }
    }

    var description: String {
        switch self {
        case .equals(let text): "must equal \"\(text)\""
        case .notEquals(let text): "must not equal \"\(text)\""
        case .oneOf(let set): "must be one of \(set.sorted().joined(separator: ", "))"
        case .noneOf(let set): "must not be one of \(set.sorted().joined(separator: ", "))"
        case .greaterThan(let bound, let orEqual): "must be \(orEqual ? "at least" : "greater than") \(bound)"
        case .lessThan(let bound, let orEqual): "must be \(orEqual ? "at most" : "less than") \(bound)"
        case .matches(let matcher): "must match /\(matcher.pattern)/"
        case .notEmpty: "must not be empty"
        }
    }
}
