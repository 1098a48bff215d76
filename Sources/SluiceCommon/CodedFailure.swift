/// The one shape of Sluice's low-level failures: a stable, machine-readable `code` and a message with
/// context. `Domain` is a caseless enum holding the domain's codes (also reachable as `Code`); it keeps
/// each domain's failures a type of their own, so typed throws and `catch` still tell, say, a staging
/// failure from a malformed multipart body.
public struct CodedFailure<Domain>: Error, Hashable, Sendable, CustomStringConvertible {
    /// The domain's codes: `StagingError.Code.fileTooLarge`.
    public typealias Code = Domain

    /// A stable, machine-readable code; one of ``Code``'s.
    public let code: String
    /// A human-readable description with context.
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
