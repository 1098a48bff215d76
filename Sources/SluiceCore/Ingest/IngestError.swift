/// A file-level ingestion error: the file's structure is broken, so no further records can be read.
public struct IngestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Machine-readable error codes.
    public enum Code {
        /// A JSON array file is not one well-formed array.
        public static let malformedJSON = "malformed_json"
        /// A CSV header row is not valid UTF-8.
        public static let invalidHeader = "invalid_header"
    }

    /// A stable, machine-readable code; one of ``Code``.
    public let code: String
    /// A human-readable description with context.
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
