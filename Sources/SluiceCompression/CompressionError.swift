import SluiceCommon

/// An error raised while compressing or decompressing.
public typealias CompressionError = CodedFailure<CompressionErrorCode>

/// The codes of ``CompressionError``.
public enum CompressionErrorCode {
    /// The decompressed size or the decompression ratio exceeded its configured limit.
    public static let decompressionLimitExceeded = "decompression_limit_exceeded"
    /// The input is not valid gzip data.
    public static let corruptData = "corrupt_data"
    /// The input ended in the middle of a gzip member.
    public static let truncatedData = "truncated_data"
    /// zlib failed for another reason (for example, out of memory).
    public static let zlibFailure = "zlib_failure"
}
