/// An error raised while parsing a `multipart/form-data` body.
public struct MultipartError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Machine-readable error codes.
    public enum Code {
        /// The body ended before the closing `--boundary--` delimiter.
        public static let missingClosingBoundary = "missing_closing_boundary"
        /// A part's header block is larger than the configured maximum.
        public static let headersTooLarge = "headers_too_large"
        /// A part's header block is not valid `Name: value` lines.
        public static let malformedHeaders = "malformed_headers"
        /// A delimiter line is followed by something other than `--` or CRLF.
        public static let malformedDelimiter = "malformed_delimiter"
    }

    /// A stable, machine-readable code; one of ``Code``.
    public let code: String
    /// A human-readable description with context.
    public let message: String

    /// Creates an error; `code` should be one of ``Code``.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
