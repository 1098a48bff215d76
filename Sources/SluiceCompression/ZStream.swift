import CZlib

/// Owns a heap-allocated `z_stream`, so its address stays stable for zlib.
///
/// The stream is initialised by `init` and ended exactly once by `deinit`.
final class ZStream {
    enum Mode {
        case deflate(level: Int32)
        case inflate
    }

    /// windowBits 31 selects the gzip wrapper (15-bit window + 16).
    static let gzipWindowBits: Int32 = 31

    let pointer: UnsafeMutablePointer<z_stream>
    private let mode: Mode

    init(_ mode: Mode) throws(CompressionError) {
        let pointer = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        pointer.initialize(to: z_stream())
        let rc: Int32
        switch mode {
        case .deflate(let level):
            precondition((-1...9).contains(level), "gzip level must be in -1...9, got \(level)")
            rc = CZlib_deflateInit2(pointer, level, Self.gzipWindowBits, 8)
        case .inflate:
            rc = CZlib_inflateInit2(pointer, Self.gzipWindowBits)
        }
        guard rc == Z_OK else {
            pointer.deinitialize(count: 1)
            pointer.deallocate()
            throw CompressionError(code: CompressionError.Code.zlibFailure,
                                   message: "zlib initialisation failed with code \(rc)")
        }
        self.pointer = pointer
        self.mode = mode
    }

    deinit {
        switch mode {
        case .deflate: deflateEnd(pointer)
        case .inflate: inflateEnd(pointer)
        }
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Points zlib's input at `bytes` for the duration of `body`.
    func withInput<R>(_ bytes: UnsafeRawBufferPointer, _ body: () throws -> R) rethrows -> R {
        precondition(bytes.count <= Int(UInt32.max), "chunks larger than 4 GiB are not supported")
        pointer.pointee.next_in = UnsafeMutablePointer(
            mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
        pointer.pointee.avail_in = uInt(bytes.count)
        defer {
            pointer.pointee.next_in = nil
            pointer.pointee.avail_in = 0
        }
        return try body()
    }

    /// The message zlib attached to the last error, if any.
    var lastMessage: String {
        pointer.pointee.msg.map { String(cString: $0) } ?? "no detail"
    }
}

extension Collection<UInt8> {
    /// Calls `body` with the bytes in contiguous memory, copying only if needed.
    func withContiguousBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(self).withUnsafeBytes(body)
    }
}
