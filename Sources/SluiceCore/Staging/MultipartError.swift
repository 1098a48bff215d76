import SluiceCommon

/// An error raised while parsing a `multipart/form-data` body.
public typealias MultipartError = CodedFailure<MultipartErrorCode>

/// The codes of ``MultipartError``.
public enum MultipartErrorCode {
    /// The body ended before the closing `--boundary--` delimiter.
    public static let missingClosingBoundary = "missing_closing_boundary"
    /// A part's header block is larger than the configured maximum.
    public static let headersTooLarge = "headers_too_large"
    /// A part's header block is not valid `Name: value` lines.
    public static let malformedHeaders = "malformed_headers"
    /// A delimiter line is followed by something other than `--` or CRLF.
    public static let malformedDelimiter = "malformed_delimiter"
}
