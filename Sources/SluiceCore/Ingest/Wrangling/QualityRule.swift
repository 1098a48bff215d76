/// One compiled data-quality rule, checked on a record after it passed schema validation.
struct QualityRule: Sendable {
    private enum Check: Sendable {
        case required
        case condition(FilterCondition)
        /// The value (a date or timestamp) must lie within this many milliseconds of now.
        case timeliness(Int64)
    }

    /// The rule's position in schema order and its field name.
    private let index: Int
    private let field: String
    private let check: Check
    /// The reason code of rows failing it, e.g. `quality_range`.
    let code: String

    /// Compiles `rule` with its parameters against `schema` (one rule per named field).
    static func compile(_ rule: String, _ parameters: inout StepParameters, schema: AvroRecordSchema) -> [QualityRule] {
        let fields = parameters.fields()
        let checks: [Check]
        switch rule {
        case "required":
            checks = [.required]
        case "range":
            let minimum = parameters.number("min").map { FilterCondition.greaterThan($0, orEqual: true) }
            let maximum = parameters.number("max").map { FilterCondition.lessThan($0, orEqual: true) }
            if minimum == nil && maximum == nil { parameters.problem(nil, "needs min, max or both") }
            checks = [minimum, maximum].compactMap { $0 }.map(Check.condition)
        case "regex":
            guard let pattern = parameters.string("pattern") else { return [] }
            do {
                checks = [.condition(.matches(try PatternMatcher(pattern)))]
            } catch {
                parameters.problem("pattern", error.message)
                return []
            }
        case "enum":
            guard let values = parameters.optional("values").map({ parameters.strings("values", $0) }), !values.isEmpty else {
                parameters.problem("values", "is required")
                return []
            }
            checks = [.condition(.oneOf(Set(values)))]
        case "timeliness":
            guard let days = parameters.number("max_age_days"), days > 0 else {
                parameters.problem("max_age_days", "must be a positive number of days")
                return []
            }
            checks = [.timeliness(Int64(days * Double(FieldText.millisPerDay)))]
        default:
            return []
        }
        var rules: [QualityRule] = []
        for field in fields {
            guard let index = schema.fields.firstIndex(where: { $0.name == field }) else {
                parameters.problem(nil, "names \"\(field)\", which is not a schema field")
                continue
            }
            if case .timeliness = checks.first, ![.date, .timestampMillis].contains(schema.fields[index].type) {
                parameters.problem(nil, "timeliness needs a date or timestamp-millis field; \"\(field)\" is \(schema.fields[index].type)")
                continue
            }
            rules += checks.map { QualityRule(index: index, field: field, check: $0, code: "quality_\(rule)") }
        }
        return rules
    }

    /// Rejects `row` if it breaks the rule; `nowMillis` anchors timeliness.
    func check(_ row: ValidatedRow, nowMillis: Int64) throws(RecordRejection) {
        let value = row.string(index)
        switch check {
        case .required:
            guard let value, !value.isEmpty else {
                throw RecordRejection(field: field, code: code, message: "\(field) must not be empty")
            }
        case .condition(let condition):
            guard let value, !condition.holds(forText: value) else { return }
            throw RecordRejection(field: field, code: code, message: "\(field) \(condition), not \"\(value.prefix(40))\"")
        case .timeliness(let window):
            guard var text = value else { return }
            let millis = text.withUTF8 { bytes in
                try? FieldText.isoMillis(bytes, invalid: { FieldText.Failure(code: code, message: "") })
            }
            guard let millis, abs(millis - nowMillis) > window else { return }
            throw RecordRejection(field: field, code: code,
                                  message: "\(field) \(text) is more than \(window / FieldText.millisPerDay) days from now")
        }
    }
}
