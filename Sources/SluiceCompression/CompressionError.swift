/// An error raised while compressing or decompressing.
public struct CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Machine-readable error codes.
    public enum Code {
        /// The decompressed size or the decompression ratio exceeded its configured limit.
        public static let decompressionLimitExceeded = "decompression_limit_exceeded"
        /// The input is not valid gzip data.
        public static let corruptData = "corrupt_data"
        /// The input ended in the middle of a gzip member.
        public static let truncatedData = "truncated_data"
        /// zlib failed for another reason (for example, out of memory).
        public static let zlibFailure = "zlib_failure"
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
