#if canImport(Glibc)
import Glibc
#endif
import SluiceCommon

/// An error raised while staging an uploaded file on disk.
public typealias StagingError = CodedFailure<StagingErrorCode>

/// The codes of ``StagingError``.
public enum StagingErrorCode {
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

extension CodedFailure where Domain == StagingErrorCode {
    /// An `io_error` describing the current `errno` for `operation` on `path`.
    static func io(_ operation: String, _ path: String, errno code: Int32) -> StagingError {
        StagingError(code: Code.ioError, message: "\(operation) \(path) failed: \(String(cString: strerror(code)))")
    }
}
