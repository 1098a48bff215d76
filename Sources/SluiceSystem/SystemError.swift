import SluiceCommon

/// A failure of an operating-system step: a helper program that failed or could not run, a system user
/// that cannot be created, a file that cannot be written.
public typealias SystemError = CodedFailure<SystemErrorCode>

/// The codes of ``SystemError``.
public enum SystemErrorCode {
    /// A helper program could not be started, or exited with a non-zero status.
    public static let commandFailed = "command_failed"
    /// A system user could not be created or found.
    public static let userUnavailable = "user_unavailable"
    /// A user cannot reach a directory and cannot be granted access.
    public static let accessDenied = "access_denied"
    /// Reading or writing a file failed.
    public static let ioError = "io_error"
}
