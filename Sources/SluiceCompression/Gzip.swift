/// One-shot gzip helpers built on ``GzipEncoder`` and ``GzipDecoder``.
public enum Gzip {
    /// Compresses `bytes` into a single gzip member.
    public static func compress(_ bytes: some Collection<UInt8>, level: Int32 = 6) throws -> [UInt8] {
        let encoder = try GzipEncoder(configuration: .init(level: level))
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count / 4 + 64)
        try encoder.encode(bytes) { result.append(contentsOf: $0) }
        try encoder.finish { result.append(contentsOf: $0) }
        return result
    }

    /// Decompresses complete gzip data (one or more members), refusing more than `maximumSize` bytes
    /// of output with `decompression_limit_exceeded`.
    public static func decompress(_ bytes: some Collection<UInt8>, maximumSize: Int) throws -> [UInt8] {
        let decoder = try GzipDecoder(configuration: .init(maximumSize: maximumSize, maximumRatio: nil))
        var result: [UInt8] = []
        try decoder.decode(bytes) { result.append(contentsOf: $0) }
        try decoder.finish()
        return result
    }
}
