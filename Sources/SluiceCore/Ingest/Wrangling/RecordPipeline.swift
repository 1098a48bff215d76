import Foundation

/// A tenant's declarative ingest app compiled against its schema: wrangling steps applied to each
/// record in order before schema validation, then data-quality rules checked on the validated row.
///
/// Definitions are checked with ``problems(of:schema:)`` when they are created, so compiling one
/// that was accepted never fails.
struct RecordPipeline: Sendable {
    /// What the byte path applies to one CSV cell or JSON string: trim, then an optional case change.
    struct CellTransform: Sendable, Equatable {
        var trim = false
        var uppercase: Bool?
    }

    let steps: [WranglingStep]
    let rules: [QualityRule]
    /// Set by a `dedupe` step: duplicate primary keys within a file are rejected, keeping the last
    /// (`true`) or first record.
    let dedupeKeepsLast: Bool?
    /// How records go through the pipeline.
    enum Path: Sendable {
        /// Straight from bytes into schema order, with these per-field transforms (`nil`: none).
        case bytes([CellTransform?]?)
        /// Steps need whole records, keyed by column or member name.
        case records
    }

    /// `.bytes` when every step only trims or changes the case of schema fields.
    let path: Path
    private let problemList: [(path: String, message: String)]

    /// A pipeline without steps or rules.
    static let empty = RecordPipeline(steps: [], rules: [], dedupeKeepsLast: nil, path: .bytes(nil), problemList: [])

    private init(steps: [WranglingStep], rules: [QualityRule], dedupeKeepsLast: Bool?, path: Path,
                 problemList: [(path: String, message: String)]) {
        self.steps = steps
        self.rules = rules
        self.dedupeKeepsLast = dedupeKeepsLast
        self.path = path
        self.problemList = problemList
    }

    /// Compiles `app`'s steps and quality rules; external apps get an empty pipeline.
    init(app: IngestApp, schema: AvroRecordSchema, path: String = "ingest_app") {
        guard app.kind == .declarative else {
            self = .empty
            return
        }
        var problems: [(path: String, message: String)] = []
        var steps: [WranglingStep] = []
        var dedupe: Bool?
        for (index, item) in app.steps.enumerated() {
            guard case .object(let members) = item, case .string(let op)? = members["op"] else { continue }
            var parameters = StepParameters(members, path: "\(path).steps[\(index)]", name: "op")
            let step = WranglingStep.compile(op, &parameters, schema: schema)
            parameters.reportUnknown()
            problems += parameters.problems
            if case .dedupe(let keepLast)? = step { dedupe = keepLast } else if let step { steps.append(step) }
        }
        var rules: [QualityRule] = []
        for (index, item) in app.quality.enumerated() {
            guard case .object(let members) = item, case .string(let rule)? = members["rule"] else { continue }
            var parameters = StepParameters(members, path: "\(path).quality[\(index)]", name: "rule")
            rules += QualityRule.compile(rule, &parameters, schema: schema)
            parameters.reportUnknown()
            problems += parameters.problems
        }
        self.init(steps: steps, rules: rules, dedupeKeepsLast: dedupe,
                  path: Self.path(steps, schema: schema), problemList: problems)
    }

    /// Problems with the parameters of `app`'s steps and rules, each with its path in the definition.
    static func problems(of app: IngestApp, schema: AvroRecordSchema, path: String = "ingest_app") -> [(path: String, message: String)] {
        RecordPipeline(app: app, schema: schema, path: path).problemList
    }

    /// Applies the steps to a record, in order.
    func transform(_ record: inout [String: RecordValue]) throws(RecordRejection) {
        for step in steps { try step.apply(to: &record) }
    }

    /// Checks the quality rules on a validated row.
    func check(_ row: ValidatedRow, nowMillis: Int64) throws(RecordRejection) {
        for rule in rules { try rule.check(row, nowMillis: nowMillis) }
    }

    private static func path(_ steps: [WranglingStep], schema: AvroRecordSchema) -> Path {
        var transforms = [CellTransform?](repeating: nil, count: schema.fields.count)
        for step in steps {
            let fields: [String]
            var transform: (inout CellTransform) -> Void
            var changesCase = true
            switch step {
            case .trim(let names): fields = names; transform = { $0.trim = true }; changesCase = false
            case .lower(let names): fields = names; transform = { $0.uppercase = false }
            case .upper(let names): fields = names; transform = { $0.uppercase = true }
            default: return .records
            }
            for name in fields {
                guard let index = schema.fields.firstIndex(where: { $0.name == name }) else { return .records }
                var cell = transforms[index] ?? CellTransform()
                // Two case changes do not reduce to the last one ("İ" lowered, then uppercased, is not "İ"
                // uppercased): the record path applies each in turn.
                if changesCase, cell.uppercase != nil { return .records }
                transform(&cell)
                transforms[index] = cell
            }
        }
        return .bytes(transforms.contains { $0 != nil } ? transforms : nil)
    }
}
