/// A report or partition-maintenance request that cannot be carried out, with a stable code.
public struct ReportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable code: `invalid_report` or `invalid_argument`.
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static func invalidReport(_ message: String) -> ReportError { ReportError(code: "invalid_report", message: message) }
    static func invalidArgument(_ message: String) -> ReportError { ReportError(code: "invalid_argument", message: message) }
}
