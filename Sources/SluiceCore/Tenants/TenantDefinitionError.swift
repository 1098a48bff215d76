/// A tenant definition that cannot be accepted, with every problem found, each as `path: message`.
public struct TenantDefinitionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The machine-readable kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The stable string form, e.g. `invalid_tenant_definition`.
        public let rawValue: String

        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        public var description: String { rawValue }

        /// The definition could not be parsed or is invalid.
        public static let invalidTenantDefinition = Code("invalid_tenant_definition")
        /// A new definition's schema cannot be applied to the existing table.
        public static let incompatibleSchemaChange = Code("incompatible_schema_change")
    }

    public var code: Code
    /// Every problem found, each `path: message`, e.g. `schema.fields[3].type: unknown type "integer"`.
    public var problems: [String]

    /// Problems kept, and characters kept of each: a problem may quote the input (a parser's message quotes
    /// the document), and an answer must not echo hundreds of kilobytes back.
    public static let maximumProblems = 100
    public static let maximumProblemLength = 300

    public init(code: Code = .invalidTenantDefinition, problems: [String]) {
        self.code = code
        var kept = problems.prefix(Self.maximumProblems).map { problem in
            problem.count <= Self.maximumProblemLength ? problem : problem.prefix(Self.maximumProblemLength) + "…"
        }
        if problems.count > Self.maximumProblems { kept.append("… and \(problems.count - Self.maximumProblems) more problems") }
        self.problems = kept
    }

    public var description: String {
        "\(code): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
            + problems.map { "  - " + $0 }.joined(separator: "\n")
    }
}
