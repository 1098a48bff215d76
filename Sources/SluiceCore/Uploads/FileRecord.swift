import Foundation
import SluiceStore

/// A file in the ledger: what was uploaded, where it is staged, and how far ingestion got.
public struct FileRecord: Sendable, Encodable, Equatable {
    public let id: String
    public let tenant: String
    /// The name the client gave, kept as metadata; the staged name is sanitised.
    public let originalName: String
    public let storedName: String
    public let format: String
    public let compressed: Bool
    public let size: Int64
    public let sha256: String
    public let state: String
    public let receivedAt: Date
    public let stateChangedAt: Date
    public let error: String?
    /// Set once ingestion finished: rows read = ingested + rejected.
    public let rowsTotal: Int64?
    public let rowsIngested: Int64?
    public let rowsRejected: Int64?
    public let attempts: Int

    enum CodingKeys: String, CodingKey {
        case id, tenant, format, compressed, size, sha256, state, error, attempts
        case originalName = "name"
        case storedName = "stored_name"
        case receivedAt = "received_at"
        case stateChangedAt = "state_changed_at"
        case rowsTotal = "rows_total"
        case rowsIngested = "rows_ingested"
        case rowsRejected = "rows_rejected"
    }

    /// Every state a file can be in, as listings filter by it.
    public static let states = ["received", "queued", "ingesting", "succeeded", "failed", "partial", "deleted"]

    /// The ledger columns `init(row:)` reads.
    static let columns = """
        id, tenant_id, original_name, stored_name, format, compressed, size, sha256, state, received_at, \
        state_changed_at, error, rows_total, rows_ingested, rows_rejected, attempts
        """

    /// A file still arriving, as the ledger will hold it apart from its size and hash.
    init(arriving id: String, tenant: String, originalName: String, storedName: String, type: FileType) {
        self.id = id
        self.tenant = tenant
        self.originalName = originalName
        self.storedName = storedName
        format = type.format.rawValue
        compressed = type.gzip
        size = 0
        sha256 = ""
        state = "receiving"
        receivedAt = Date()
        stateChangedAt = receivedAt
        error = nil
        rowsTotal = nil
        rowsIngested = nil
        rowsRejected = nil
        attempts = 0
    }

    init(row: PostgresRow) throws {
        id = try row.decode(String.self, "id") ?? ""
        tenant = try row.decode(String.self, "tenant_id") ?? ""
        originalName = try row.decode(String.self, "original_name") ?? ""
        storedName = try row.decode(String.self, "stored_name") ?? ""
        format = try row.decode(String.self, "format") ?? ""
        compressed = try row.decode(Bool.self, "compressed") ?? false
        size = try row.decode(Int64.self, "size") ?? 0
        sha256 = try row.decode(String.self, "sha256") ?? ""
        state = try row.decode(String.self, "state") ?? ""
        receivedAt = try row.decode(Date.self, "received_at") ?? Date(timeIntervalSince1970: 0)
        stateChangedAt = try row.decode(Date.self, "state_changed_at") ?? Date(timeIntervalSince1970: 0)
        error = try row.decode(String.self, "error")
        rowsTotal = try row.decode(Int64.self, "rows_total")
        rowsIngested = try row.decode(Int64.self, "rows_ingested")
        rowsRejected = try row.decode(Int64.self, "rows_rejected")
        attempts = try row.decode(Int.self, "attempts") ?? 0
    }
}

/// The outcome of an upload: the ledger entry, and whether it already existed (same content).
public struct UploadResult: Sendable {
    public let file: FileRecord
    public let duplicate: Bool
}

extension FileRecord {
    /// The tenant's file `id`, or `file_not_found`.
    static func fetch(tenant: String, id: String, pool: PostgresConnectionPool) async throws -> FileRecord {
        guard let row = try await pool.query(
            "SELECT \(columns) FROM sluice.files WHERE tenant_id = $1 AND id = $2", [.init(tenant), .init(id)]
        ).first else {
            throw ServiceError(.notFound, "file_not_found", "no file \"\(id)\" for tenant \"\(tenant)\"")
        }
        return try FileRecord(row: row)
    }
}

/// What the transport knows about an upload before its body arrives.
public struct UploadRequest: Sendable {
    public var tenant: String
    /// The file name from `?name=` or `Content-Disposition` (multipart bodies carry their own).
    public var fileName: String?
    public var contentType: String?
    public var contentLength: Int?
    /// Accept content identical to a file already staged.
    public var force: Bool

    public init(tenant: String, fileName: String?, contentType: String?, contentLength: Int?, force: Bool) {
        self.tenant = tenant
        self.fileName = fileName
        self.contentType = contentType
        self.contentLength = contentLength
        self.force = force
    }
}
