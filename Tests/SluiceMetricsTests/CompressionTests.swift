import Foundation
import SluiceCompression
import Testing

@Suite struct CompressionTests {
    /// Text-like, moderately compressible bytes.
    static func sample(lines: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for line in 0..<lines {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes += Array("{\"tenant\":\"t\(line % 97)\",\"value\":\(state >> 40)}\n".utf8)
        }
        return bytes
    }

    /// `megabytes` MiB of zeros, compressed without materialising them.
    static func zeroBomb(megabytes: Int) throws -> [UInt8] {
        let encoder = try GzipEncoder()
        let zeros = [UInt8](repeating: 0, count: 1024 * 1024)
        var compressed: [UInt8] = []
        for _ in 0..<megabytes {
            compressed += try encoder.encode(zeros)
        }
        compressed += try encoder.finish()
        return compressed
    }

    static func expectCode(_ code: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected CompressionError \(code), nothing was thrown")
        } catch let error as CompressionError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [0, 1, 1000, 200_000])
    func roundTrip(lines: Int) throws {
        let original = Self.sample(lines: lines)
        let compressed = try Gzip.compress(original)
        #expect(compressed.starts(with: [0x1F, 0x8B]))
        #expect(try Gzip.decompress(compressed, maximumSize: original.count) == original)
    }

    @Test func systemGunzipReadsOurOutput() throws {
        let original = Self.sample(lines: 5000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
        process.arguments = ["-dc"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(try Gzip.compress(original, level: 9)))
        try input.fileHandleForWriting.close()
        let decompressed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(Array(decompressed) == original)
    }

    @Test func streamingEncoderMatchesInput() throws {
        let original = Self.sample(lines: 20_000)
        let encoder = try GzipEncoder(configuration: .init(level: 1, outputChunkSize: 512))
        var compressed: [UInt8] = []
        var chunks = 0
        for start in stride(from: 0, to: original.count, by: 7919) {
            try encoder.encode(original[start..<min(start + 7919, original.count)]) {
                #expect($0.count <= 512)
                chunks += 1
                compressed += $0
            }
        }
        try encoder.finish { compressed += $0 }
        #expect(chunks > 1)
        #expect(try Gzip.decompress(compressed, maximumSize: .max) == original)
    }

    @Test(arguments: [1, 3, 4096])
    func decoderHandlesTinyChunks(chunkSize: Int) throws {
        let original = Self.sample(lines: 2000)
        let compressed = try Gzip.compress(original)
        let decoder = try GzipDecoder(configuration: .init(outputChunkSize: 100))
        var decompressed: [UInt8] = []
        for start in stride(from: 0, to: compressed.count, by: chunkSize) {
            decompressed += try decoder.decode(compressed[start..<min(start + chunkSize, compressed.count)])
        }
        try decoder.finish()
        #expect(decompressed == original)
        #expect(decoder.compressedBytes == compressed.count)
        #expect(decoder.decompressedBytes == original.count)
    }

    @Test(arguments: [1, 5, 100_000])
    func decoderAcceptsConcatenatedMembers(chunkSize: Int) throws {
        let first = Self.sample(lines: 300)
        let second = Array("second member\n".utf8)
        let compressed = try Gzip.compress(first) + Gzip.compress(second) + Gzip.compress([])
        let decoder = try GzipDecoder()
        var decompressed: [UInt8] = []
        for start in stride(from: 0, to: compressed.count, by: chunkSize) {
            decompressed += try decoder.decode(compressed[start..<min(start + chunkSize, compressed.count)])
        }
        try decoder.finish()
        #expect(decompressed == first + second)
        #expect(try Gzip.decompress(compressed, maximumSize: 1 << 20) == first + second)
    }

    @Test func decoderRefusesBombByRatio() throws {
        let bomb = try Self.zeroBomb(megabytes: 50)
        #expect(bomb.count < 100_000)
        let decoder = try GzipDecoder(configuration: .init(maximumSize: .max, maximumRatio: 100))
        var emitted = 0
        Self.expectCode(CompressionError.Code.decompressionLimitExceeded) {
            try decoder.decode(bomb) { emitted += $0.count }
        }
        #expect(emitted <= 2 * 1024 * 1024)
        // The failure is sticky.
        Self.expectCode(CompressionError.Code.decompressionLimitExceeded) { try decoder.finish() }
    }

    @Test func decoderRefusesBombBySize() throws {
        let bomb = try Self.zeroBomb(megabytes: 50)
        let limit = 10 * 1024 * 1024
        let decoder = try GzipDecoder(configuration: .init(maximumSize: limit, maximumRatio: nil))
        var emitted = 0
        Self.expectCode(CompressionError.Code.decompressionLimitExceeded) {
            for start in stride(from: 0, to: bomb.count, by: 1000) {
                try decoder.decode(bomb[start..<min(start + 1000, bomb.count)]) { emitted += $0.count }
            }
        }
        #expect(emitted <= limit)
        Self.expectCode(CompressionError.Code.decompressionLimitExceeded) {
            _ = try Gzip.decompress(bomb, maximumSize: limit)
        }
    }

    @Test func smallCompressibleBodiesPassTheRatioCheck() throws {
        let zeros = [UInt8](repeating: 0, count: 512 * 1024)
        let decoder = try GzipDecoder()
        #expect(try decoder.decode(Gzip.compress(zeros)) == zeros)
        try decoder.finish()
    }

    @Test func decoderRejectsCorruptInput() throws {
        Self.expectCode(CompressionError.Code.corruptData) {
            _ = try Gzip.decompress(Array("definitely not gzip".utf8), maximumSize: 1 << 20)
        }
        var damaged = try Gzip.compress(Self.sample(lines: 100))
        damaged[damaged.count - 6] ^= 0xFF // inside the CRC-32 trailer
        Self.expectCode(CompressionError.Code.corruptData) {
            _ = try Gzip.decompress(damaged, maximumSize: 1 << 20)
        }
        let trailingGarbage = try Gzip.compress(Array("ok".utf8)) + Array("garbage!!!".utf8)
        Self.expectCode(CompressionError.Code.corruptData) {
            _ = try Gzip.decompress(trailingGarbage, maximumSize: 1 << 20)
        }
    }

    @Test func decoderRejectsTruncatedInput() throws {
        let compressed = try Gzip.compress(Self.sample(lines: 100))
        Self.expectCode(CompressionError.Code.truncatedData) {
            _ = try Gzip.decompress(compressed.dropLast(4), maximumSize: 1 << 20)
        }
        Self.expectCode(CompressionError.Code.truncatedData) {
            _ = try Gzip.decompress([UInt8](), maximumSize: 1 << 20)
        }
    }
}
