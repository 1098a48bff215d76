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

    public init(code: Code = .invalidTenantDefinition, problems: [String]) {
        self.code = code
        self.problems = problems
    }

    public var description: String {
        "\(code): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
            + problems.map { "  - " + $0 }.joined(separator: "\n")
    }
}
