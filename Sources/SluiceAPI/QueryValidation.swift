import SluiceHTTP

/// Query parameters read strictly: a value that is present but not what the parameter takes answers
/// `400 invalid_parameter` naming it, instead of being ignored (`limit=-1` returned one row).
extension HTTPRequest {
    /// The integer parameter `name` within `range`, or `fallback` when absent.
    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        guard let text = query[name] else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw HTTPError.badRequest("invalid_parameter", "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// The parameter `name`, when present one of `choices`.
    func choice(_ name: String, of choices: [String]) throws -> String? {
        guard let text = query[name] else { return nil }
        guard choices.contains(text) else {
            throw HTTPError.badRequest("invalid_parameter", "\(name) must be one of \(choices.joined(separator: ", "))")
        }
        return text
    }

    /// The parameter `name`, when present accepted by `isValid` (`what` says what it must be).
    func token(_ name: String, _ what: String, isValid: (String) -> Bool) throws -> String? {
        guard let text = query[name] else { return nil }
        guard isValid(text) else { throw HTTPError.badRequest("invalid_parameter", "\(name) must be \(what)") }
        return text
    }
}
