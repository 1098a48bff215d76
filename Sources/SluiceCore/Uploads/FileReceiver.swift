import Foundation
import SluiceCompression

/// One upload's body on its way to the staging area: checks the file type by name and by content,
/// enforces the size limit and quota while streaming, and charges the tenant's rate limit.
final class FileReceiver {
    /// Bytes examined to recognise the content before anything is written.
    static let sniffLength = 4096
    /// Bytes gathered before a write, so the writer's thread is visited per 256 KiB, not per socket read.
    static let writeBatch = 256 * 1024

    let tenant: TenantDefinition
    let id: String
    private(set) var originalName = ""
    private(set) var storedName = ""
    private(set) var fileType = FileType(.csv)
    private let writer: StagingFileWriter
    private let sizeLimit: Int64
    private let quotaRemaining: Int64
    private let rateLimiter: RateLimiter
    /// Received bytes not yet written: the sniffing prefix, then the current write batch.
    private var pending: [UInt8] = []
    private var sniffed = false
    private var received: Int64 = 0
    /// Asked once the first bytes are written: an ingest to follow this upload as it arrives, if any.
    var follow: ((FileReceiver) -> ArrivingFile?)?
    /// The ingest following this upload; the upload ends it with `publish` or `abandon`.
    private(set) var arriving: ArrivingFile?

    init(tenant: TenantDefinition, id: String, temporaryPath: String, quotaRemaining: Int64, rateLimiter: RateLimiter) async throws {
        self.tenant = tenant
        self.id = id
        self.sizeLimit = Int64(tenant.constraints.maxFileSizeBytes)
        self.quotaRemaining = quotaRemaining
        self.rateLimiter = rateLimiter
        writer = try await StagingFileWriter(temporaryPath: temporaryPath, maximumBytes: min(sizeLimit, quotaRemaining))
    }

    deinit {
        // Whatever way the upload ended, a following ingest must not wait for it.
        arriving?.abandon()
    }

    /// Checks the file name's type against the tenant's accepted types.
    func begin(fileName: String) throws {
        originalName = fileName
        storedName = FileNameSanitizer.sanitize(fileName)
        let accepted = tenant.fileTypes.map(\.description).joined(separator: ", ")
        guard let detected = FileNameSanitizer.fileType(of: fileName),
              let format = FileType.Format(rawValue: detected.format == "jsonl" ? "ndjson" : detected.format),
              tenant.fileTypes.contains(FileType(format, gzip: detected.gzip)) else {
            throw ServiceError(.unsupportedType, "file_type_not_allowed",
                               "\"\(fileName)\" is not one of the tenant's file types (\(accepted))")
        }
        fileType = FileType(format, gzip: detected.gzip)
    }

    func receive(_ chunk: [UInt8]) async throws {
        guard !chunk.isEmpty else { return }
        received += Int64(chunk.count)
        if received > sizeLimit {
            throw ServiceError(.tooLarge, "file_too_large", "the file exceeds the tenant's limit of \(sizeLimit) bytes")
        }
        if received > quotaRemaining {
            throw ServiceError(.insufficientStorage, "quota_exceeded", "the tenant's storage quota would be exceeded")
        }
        rateLimiter.consume(key: tenant.id, bytes: chunk.count)
        pending += chunk
        if !sniffed && pending.count >= Self.sniffLength {
            try checkContent(pending)
            sniffed = true
        }
        if sniffed && pending.count >= Self.writeBatch { try await writePending() }
    }

    func finish() async throws -> StagedFile {
        if !sniffed {
            try checkContent(pending)
            sniffed = true
        }
        try await writePending()
        return try await writer.finish()
    }

    func discard() async { await writer.discard() }

    private func writePending() async throws {
        guard !pending.isEmpty else { return }
        let bytes = pending
        pending.removeAll(keepingCapacity: true)
        try await write(bytes)
    }

    private func write(_ bytes: [UInt8]) async throws {
        do {
            try await writer.write(bytes)
        } catch {
            guard error.code == StagingError.Code.fileTooLarge else { throw error }
            throw ServiceError(.tooLarge, "file_too_large", "the file exceeds the tenant's limit of \(sizeLimit) bytes")
        }
        if let follow {
            self.follow = nil
            arriving = follow(self)
        }
        arriving?.advance(to: Int(writer.bytesWritten))
    }

    /// The content must be what the name says: text of the right shape, gzip'd when named `.gz`.
    private func checkContent(_ prefix: [UInt8]) throws {
        var content = prefix
        if fileType.gzip {
            guard ContentSniffer.kind(of: prefix) == .gzip else { throw mismatch("it is not gzip-compressed") }
            content = Self.inflatedPrefix(prefix)
        }
        guard content.isEmpty || ContentSniffer.kind(of: content) == .text else {
            throw mismatch("its content is \(ContentSniffer.kind(of: content)), not text")
        }
        let first = ContentSniffer.firstSignificantByte(content)
        switch fileType.format {
        case .csv:
            break
        case .ndjson:
            guard first == nil || first == UInt8(ascii: "{") else { throw mismatch("NDJSON lines must be JSON objects") }
        case .json:
            guard first == nil || first == UInt8(ascii: "[") else { throw mismatch("a JSON file must hold an array") }
        }
    }

    /// Up to `sniffLength` bytes of what a gzip'd prefix holds (a truncated stream is expected here).
    private static func inflatedPrefix(_ compressed: [UInt8]) -> [UInt8] {
        struct Enough: Error {}
        var inflated: [UInt8] = []
        guard let decoder = try? GzipDecoder() else { return [] }
        do {
            try decoder.decode(compressed) { bytes in
                inflated += bytes.prefix(sniffLength - inflated.count)
                if inflated.count >= sniffLength { throw Enough() }
            }
        } catch {}
        return inflated
    }

    private func mismatch(_ reason: String) -> ServiceError {
        ServiceError(.unsupportedType, "file_type_not_allowed", "\"\(originalName)\" is named \(fileType) but \(reason)")
    }
}

/// Upload ids: sortable by arrival (millisecond time first), unguessable (random tail).
public enum FileID {
    /// Whether `id` can be an upload id, `[A-Za-z0-9_-]{1,64}`: safe in a path, never `..`.
    public static func isValid(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// A new id: `prefix`, the time in milliseconds and 48 random bits, so ids sort by creation.
    static func generate(prefix: String = "f") -> String {
        let milliseconds = UInt64(Date().timeIntervalSince1970 * 1000)
        var generator = SystemRandomNumberGenerator()
        let random = (0..<6).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let time = String(milliseconds, radix: 16)
        return prefix + String(repeating: "0", count: max(0, 12 - time.count)) + time + hex(random)
    }
}
