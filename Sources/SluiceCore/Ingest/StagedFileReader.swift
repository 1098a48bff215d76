import Foundation
import SluiceCompression

/// Reads a staged file in fixed-size pieces, inflating gzip on the way with limits against gzip
/// bombs. Blocking: run it on a dedicated thread (the ingest worker's store connection thread).
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

    /// Calls `emit` with the file's (inflated) bytes, piece by piece.
    func read(_ emit: ([UInt8]) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ServiceError(.unavailable, "staged_file_missing", "the staged file \(path) cannot be opened")
        }
        defer { try? handle.close() }
        let decoder = gzip ? try GzipDecoder(configuration: .init(maximumSize: limits.maximumInflatedBytes,
                                                                    maximumRatio: limits.maximumRatio)) : nil
        while let data = try handle.read(upToCount: Self.chunkSize), !data.isEmpty {
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
