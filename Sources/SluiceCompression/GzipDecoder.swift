import CZlib

/// A streaming gzip decompressor with limits against decompression bombs.
///
/// Feed compressed chunks to ``decode(_:emit:)``; call ``finish()`` after the last one to detect
/// truncated input. Concatenated gzip members (as produced by `cat a.gz b.gz`) are decoded as one
/// stream. Single owner, not thread-safe. After an error (also one thrown by `emit`), every further
/// call throws it again.
public final class GzipDecoder {
    /// Decoder limits.
    public struct Configuration: Sendable {
        /// Maximum total decompressed size in bytes.
        public var maximumSize: Int
        /// Maximum ratio of decompressed to compressed bytes; `nil` disables the ratio check.
        public var maximumRatio: Int?
        /// The ratio is enforced only once this many bytes were decompressed, so small,
        /// highly compressible bodies are not refused.
        public var minimumSizeForRatioCheck: Int
        /// Size of the scratch buffer; emitted chunks are at most this long.
        public var outputChunkSize: Int

        public init(
            maximumSize: Int = 64 * 1024 * 1024,
            maximumRatio: Int? = 100,
            minimumSizeForRatioCheck: Int = 1024 * 1024,
            outputChunkSize: Int = 32 * 1024
        ) {
            self.maximumSize = maximumSize
            self.maximumRatio = maximumRatio
            self.minimumSizeForRatioCheck = minimumSizeForRatioCheck
            self.outputChunkSize = outputChunkSize
        }
    }

    private let configuration: Configuration
    private let stream: ZStream
    private let output: UnsafeMutableRawBufferPointer
    /// True between members: at the start, and after a member's trailer was read.
    private var atMemberBoundary = true
    private var sawMember = false
    /// The first error thrown (including one thrown by `emit`), rethrown by every later call.
    private var failure: (any Error)?

    /// Compressed bytes consumed so far.
    public private(set) var compressedBytes = 0
    /// Decompressed bytes produced so far.
    public private(set) var decompressedBytes = 0

    public init(configuration: Configuration = .init()) throws(CompressionError) {
        precondition(configuration.outputChunkSize > 0, "outputChunkSize must be positive")
        self.configuration = configuration
        self.stream = try ZStream(.inflate)
        self.output = .allocate(byteCount: configuration.outputChunkSize, alignment: 1)
    }

    deinit {
        output.deallocate()
    }

    /// Decompresses `chunk`, passing decompressed output to `emit` (possibly zero times).
    ///
    /// Throws ``CompressionError`` with code `decompression_limit_exceeded` before emitting bytes
    /// beyond a limit, `corrupt_data` for invalid input, or whatever `emit` throws.
    public func decode(_ chunk: some Collection<UInt8>, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let failure { throw failure }
        do {
            try chunk.withContiguousBytes { input in
                try stream.withInput(input) { try run(emit: emit) }
            }
        } catch {
            failure = error
            throw error
        }
    }

    /// Decompresses `chunk` and returns the output it produced.
    public func decode(_ chunk: some Collection<UInt8>) throws -> [UInt8] {
        var result: [UInt8] = []
        try decode(chunk) { result.append(contentsOf: $0) }
        return result
    }

    /// Checks that the input ended cleanly after a complete gzip member.
    public func finish() throws {
        if let failure { throw failure }
        guard sawMember && atMemberBoundary else {
            let error = CompressionError(
                code: CompressionError.Code.truncatedData,
                message: "gzip stream ended after \(compressedBytes) bytes without a complete member")
            failure = error
            throw error
        }
    }

    private func run(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let z = stream.pointer
        while true {
            if atMemberBoundary {
                guard z.pointee.avail_in > 0 else { return }
                if sawMember { inflateReset(z) }
                atMemberBoundary = false
            }
            let availableBefore = z.pointee.avail_in
            z.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            z.pointee.avail_out = uInt(output.count)
            let rc = inflate(z, Z_NO_FLUSH)
            compressedBytes += Int(availableBefore - z.pointee.avail_in)
            let produced = output.count - Int(z.pointee.avail_out)
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                atMemberBoundary = true
                sawMember = true
            default:
                throw CompressionError(code: CompressionError.Code.corruptData,
                                       message: "invalid gzip data after \(compressedBytes) bytes: \(stream.lastMessage)")
            }
            decompressedBytes += produced
            try checkLimits()
            if produced > 0 {
                try emit(UnsafeRawBufferPointer(rebasing: output[..<produced]))
            }
            // A full output buffer may hide pending output; otherwise stop once input is drained.
            if z.pointee.avail_out != 0 && (z.pointee.avail_in == 0 || rc == Z_BUF_ERROR) && !atMemberBoundary {
                return
            }
        }
    }

    private func checkLimits() throws(CompressionError) {
        if decompressedBytes > configuration.maximumSize {
            throw CompressionError(
                code: CompressionError.Code.decompressionLimitExceeded,
                message: "decompressed size exceeds the limit of \(configuration.maximumSize) bytes")
        }
        if let ratio = configuration.maximumRatio,
           decompressedBytes >= configuration.minimumSizeForRatioCheck,
           Double(decompressedBytes) > Double(compressedBytes) * Double(ratio) {
            throw CompressionError(
                code: CompressionError.Code.decompressionLimitExceeded,
                message: "decompression ratio exceeds \(ratio):1 (\(decompressedBytes) bytes from \(compressedBytes))")
        }
    }
}
