import CZlib

/// A streaming gzip compressor: feed it chunks, it emits compressed chunks.
///
/// Single owner, not thread-safe. Call ``finish(emit:)`` once to write the gzip trailer.
/// After an error the encoder's output is incomplete: discard it.
public final class GzipEncoder {
    /// Encoder settings.
    public struct Configuration: Sendable {
        /// zlib compression level, -1 (default, 6) or 0...9.
        public var level: Int32
        /// Size of the scratch buffer handed to zlib; emitted chunks are at most this long.
        public var outputChunkSize: Int

        public init(level: Int32 = 6, outputChunkSize: Int = 32 * 1024) {
            self.level = level
            self.outputChunkSize = outputChunkSize
        }
    }

    private let stream: ZStream
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    public init(configuration: Configuration = .init()) throws(CompressionError) {
        precondition(configuration.outputChunkSize > 0, "outputChunkSize must be positive")
        self.stream = try ZStream(.deflate(level: configuration.level))
        self.output = .allocate(byteCount: configuration.outputChunkSize, alignment: 1)
    }

    deinit {
        output.deallocate()
    }

    /// Compresses `chunk`, passing any compressed output to `emit` (possibly zero times).
    public func encode(_ chunk: some Collection<UInt8>, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "GzipEncoder.encode called after finish")
        try chunk.withContiguousBytes { input in
            try stream.withInput(input) { try run(flush: Z_NO_FLUSH, emit: emit) }
        }
    }

    /// Flushes the remaining compressed data and the gzip trailer to `emit`. Call exactly once.
    public func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "GzipEncoder.finish called twice")
        finished = true
        try run(flush: Z_FINISH, emit: emit)
    }

    /// Compresses `chunk` and returns the compressed output produced so far.
    public func encode(_ chunk: some Collection<UInt8>) throws -> [UInt8] {
        var result: [UInt8] = []
        try encode(chunk) { result.append(contentsOf: $0) }
        return result
    }

    /// Finishes the stream and returns the final compressed bytes.
    public func finish() throws -> [UInt8] {
        var result: [UInt8] = []
        try finish { result.append(contentsOf: $0) }
        return result
    }

    private func run(flush: Int32, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let z = stream.pointer
        while true {
            z.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            z.pointee.avail_out = uInt(output.count)
            let rc = deflate(z, flush)
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                throw CompressionError(code: CompressionError.Code.zlibFailure,
                                       message: "deflate failed with code \(rc): \(stream.lastMessage)")
            }
            let produced = output.count - Int(z.pointee.avail_out)
            if produced > 0 {
                try emit(UnsafeRawBufferPointer(rebasing: output[..<produced]))
            }
            if rc == Z_STREAM_END { return }
            // Without Z_FINISH, zlib is done once it stops filling the whole output buffer.
            if flush != Z_FINISH && z.pointee.avail_out != 0 { return }
        }
    }
}
