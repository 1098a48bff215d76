#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error raised while staging an uploaded file on disk.
public struct StagingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Machine-readable error codes.
    public enum Code {
        /// The upload exceeds the maximum file size.
        public static let fileTooLarge = "file_too_large"
        /// A system call failed.
        public static let ioError = "io_error"
        /// A tenant id is not a valid slug.
        public static let invalidTenant = "invalid_tenant"
        /// An upload id or file name could escape its directory.
        public static let invalidName = "invalid_name"
        /// The writer was used after it was finished, committed, discarded or failed.
        public static let invalidState = "invalid_state"
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

    /// An `io_error` describing the current `errno` for `operation` on `path`.
    static func io(_ operation: String, _ path: String, errno code: Int32) -> StagingError {
        StagingError(code: Code.ioError, message: "\(operation) \(path) failed: \(String(cString: strerror(code)))")
    }
}
