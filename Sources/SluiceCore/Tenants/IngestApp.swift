/// The program that turns a tenant's staged files into rows: either declarative steps run by Sluice
/// or an external command.
///
/// Only stored and validated for now; see ``stepOperations`` and ``qualityRules`` for what is accepted.
public struct IngestApp: Sendable, Equatable {
    /// Who runs the ingestion.
    public enum Kind: String, Sendable, Equatable {
        /// Sluice applies ``IngestApp/steps`` and ``IngestApp/quality`` itself.
        case declarative
        /// Sluice runs ``IngestApp/command``.
        case external
    }

    /// What happens when a row's primary key already exists.
    public enum ConflictAction: String, Sendable, Equatable {
        /// The existing row is replaced.
        case update
        /// The new row is dropped.
        case nothing
    }

    /// Where an external command writes its output.
    public enum Output: String, Sendable, Equatable {
        /// Records on standard output.
        case stdout
        /// Files in the directory given to the command.
        case outDir = "out_dir"
    }

    /// The operations a declarative step may name in its `op` key.
    public static let stepOperations: Set<String> = [
        "rename", "cast", "trim", "lower", "upper", "default_if_empty", "drop", "parse_timestamp", "concat",
        "filter", "dedupe",
    ]
    /// The rules a quality check may name in its `rule` key.
    public static let qualityRules: Set<String> = ["required", "range", "regex", "enum", "timeliness"]

    public var kind: Kind
    /// Declarative transformation steps, each an object with an `op`.
    public var steps: [JSONValue]
    /// Declarative quality rules, each an object with a `rule`.
    public var quality: [JSONValue]
    /// The declarative conflict action.
    public var onConflict: ConflictAction
    /// The external command's argv.
    public var command: [String]
    /// Where the external command writes its output.
    public var output: Output

    public init(
        kind: Kind = .declarative, steps: [JSONValue] = [], quality: [JSONValue] = [],
        onConflict: ConflictAction = .update, command: [String] = [], output: Output = .stdout
    ) {
        self.kind = kind
        self.steps = steps
        self.quality = quality
        self.onConflict = onConflict
        self.command = command
        self.output = output
    }
}
