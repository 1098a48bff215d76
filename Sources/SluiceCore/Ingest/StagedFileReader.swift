import Foundation
import SluiceCompression

/// Reads a staged file in fixed-size pieces, inflating gzip on the way with limits against gzip
/// bombs. Blocking: run it on a dedicated thread (the ingest worker's store connection thread).
/// With an ``ArrivingFile`` it reads an upload's file as it is written, up to the bytes written so far.
struct StagedFileReader {
    static let chunkSize = 256 * 1024

    /// Decompression limits: total inflated size and inflated/compressed ratio.
    struct Limits {
        var maximumInflatedBytes: Int
        var maximumRatio: Int
    }

    let path: String
    let gzip: Bool
    let limits: Limits
    var arriving: ArrivingFile?

    /// Calls `emit` with the file's (inflated) bytes, piece by piece.
    func read(_ emit: ([UInt8]) throws -> Void) throws {
        let handle: FileHandle
        if let arriving {
            handle = try arriving.open()
        } else {
            // Never through a symbolic link: an app's output directory is the app's to fill.
            let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            var info = stat()
            guard descriptor >= 0, fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                if descriptor >= 0 { close(descriptor) }
                throw ServiceError(.unavailable, "staged_file_missing", "the staged file \(path) cannot be opened as a regular file")
            }
            handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        }
        // An arriving file's descriptor belongs to it: a second pass reads it again.
        defer { if arriving == nil { try? handle.close() } }
        let decoder = gzip ? try GzipDecoder(configuration: .init(maximumSize: limits.maximumInflatedBytes,
                                                                    maximumRatio: limits.maximumRatio)) : nil
        var offset = 0
        while true {
            let count = try arriving.map { min(Self.chunkSize, try $0.readable(from: offset)) } ?? Self.chunkSize
            guard count > 0, let data = try handle.read(upToCount: count), !data.isEmpty else { break }
            offset += data.count
            let bytes = [UInt8](data)
            if let decoder {
                do {
                    try decoder.decode(bytes) { try emit(Array($0)) }
                } catch let error as CompressionError {
                    throw ServiceError(.invalid, error.code, "the gzip stream cannot be read: \(error.message)")
                }
            } else {
                try emit(bytes)
            }
        }
        if let decoder {
            do {
                try decoder.finish()
            } catch let error as CompressionError {
                throw ServiceError(.invalid, error.code, "the gzip stream cannot be read: \(error.message)")
            }
        }
    }
}
