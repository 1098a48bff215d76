import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SluiceCompression
import SluiceStore

/// Receives a tenant's file into its staging area: checks its constraints before and while the body
/// streams, writes it under a temporary name with its SHA-256, and publishes it (rename + ledger row)
/// in one transaction, so a file is visible exactly when its ledger row exists. When the tenant has no
/// other files waiting, the ingest manager may ingest the file while it arrives (``ArrivingFile``).
public struct UploadService: Sendable {
    private let pool: PostgresConnectionPool
    private let tenants: TenantService
    private let staging: StagingArea
    private let rateLimiter: RateLimiter
    private let metrics: UploadMetrics
    private let logger: Logger
    private let ingest: BatchIngestManager?

    /// Multipart framing allowed beyond the file-size limit when judging `Content-Length`.
    static let multipartOverhead = 64 * 1024

    /// `ingest`, if given, is told of every new file once its ledger row is committed (not of duplicates)
    /// and may ingest uploads as they arrive.
    public init(pool: PostgresConnectionPool, tenants: TenantService, staging: StagingArea,
                rateLimiter: RateLimiter, metrics: UploadMetrics, logger: Logger, ingest: BatchIngestManager? = nil) {
        self.pool = pool
        self.tenants = tenants
        self.staging = staging
        self.rateLimiter = rateLimiter
        self.metrics = metrics
        self.logger = logger
        self.ingest = ingest
    }

    /// Stages one upload. `body` yields the raw request body (a plain file or `multipart/form-data`).
    public func upload<Body: AsyncSequence & Sendable>(_ request: UploadRequest, body: Body) async throws -> UploadResult
    where Body.Element == [UInt8] {
        let started = ContinuousClock.now
        do {
            let result = try await stage(request, body: body)
            metrics.recordUpload(tenant: request.tenant, outcome: result.duplicate ? "duplicate" : "accepted",
                                 bytes: result.file.size, seconds: started.duration(to: .now).secondsValue)
            await metrics.refresh(tenant: request.tenant, pool: pool)
            return result
        } catch let error as ServiceError {
            metrics.recordUpload(tenant: request.tenant, outcome: error.code, bytes: 0,
                                 seconds: started.duration(to: .now).secondsValue)
            throw error
        }
    }

    private func stage<Body: AsyncSequence & Sendable>(_ request: UploadRequest, body: Body) async throws -> UploadResult
    where Body.Element == [UInt8] {
        let definition = try await tenants.get(request.tenant).definition
        let constraints = definition.constraints
        let boundary = request.contentType.flatMap { MultipartParser.boundary(fromContentType: $0) }
        if boundary == nil, request.contentType?.lowercased().hasPrefix("multipart/") == true {
            throw ServiceError(.invalid, "malformed_multipart", "the multipart Content-Type has no boundary parameter")
        }
        if let length = request.contentLength,
           length > Int(constraints.maxFileSizeBytes) + (boundary == nil ? 0 : Self.multipartOverhead) {
            throw ServiceError(.tooLarge, "file_too_large",
                               "the upload (\(length) bytes) exceeds the tenant's limit of \(constraints.maxFileSizeBytes) bytes")
        }
        let usage = try await Self.usage(tenant: request.tenant, pool: pool)
        if usage.stagedFiles >= constraints.maxStagedFiles {
            throw ServiceError(.rateLimited, "too_many_staged_files",
                               "\(usage.stagedFiles) files are staged and not yet ingested (limit \(constraints.maxStagedFiles))",
                               retryAfterSeconds: 30)
        }
        let quotaRemaining = Int64(constraints.storageQuotaBytes) - usage.storedBytes
        if quotaRemaining <= 0 || Int64(request.contentLength ?? 0) > quotaRemaining + Int64(boundary == nil ? 0 : Self.multipartOverhead) {
            throw ServiceError(.insufficientStorage, "quota_exceeded",
                               "the tenant's storage quota of \(constraints.storageQuotaBytes) bytes would be exceeded "
                               + "(\(usage.storedBytes) bytes stored)")
        }
        if let rate = constraints.maxIngestRate,
           let wait = rateLimiter.admit(key: request.tenant, rate: Double(rate.bytesPerSecond), burst: Double(rate.burstBytes)) {
            let seconds = max(1, Int(wait.secondsValue.rounded(.up)))
            throw ServiceError(.rateLimited, "rate_limited",
                               "the tenant's ingest rate of \(Int(rate.bytesPerSecond)) bytes/s is exhausted; retry in \(seconds) s",
                               retryAfterSeconds: seconds)
        }

        let id = FileID.generate()
        // Recreated if missing (a data directory restored without it, or removed by hand): the upload
        // would otherwise fail on a path the tenant cannot fix.
        _ = try await staging.inDirectory(request.tenant)
        let temporaryPath = try staging.temporaryPath(tenant: request.tenant, id: id)
        let receiver = try await FileReceiver(tenant: definition, id: id, temporaryPath: temporaryPath,
                                              quotaRemaining: quotaRemaining, rateLimiter: rateLimiter)
        // Only when the tenant has nothing else waiting (its files commit in arrival order) and no file
        // waits in the queue (a free worker place is theirs first).
        if let ingest, usage.stagedFiles == 0, !usage.queuedAnywhere {
            receiver.follow = { receiver in
                ingest.followUpload(FileRecord(arriving: id, tenant: request.tenant, originalName: receiver.originalName,
                                               storedName: receiver.storedName, type: receiver.fileType),
                                    of: definition, temporaryPath: temporaryPath)
            }
        }
        do {
            if let boundary {
                try await receiveMultipart(body, boundary: boundary, into: receiver)
            } else {
                guard let name = request.fileName, !name.isEmpty else {
                    throw ServiceError(.invalid, "file_name_required",
                                       "name the file with ?name=… or a Content-Disposition header, or send multipart/form-data")
                }
                try receiver.begin(fileName: name)
                for try await chunk in body { try await receiver.receive(chunk) }
            }
            let staged = try await receiver.finish()
            return try await publish(staged, request: request, receiver: receiver)
        } catch {
            receiver.arriving?.abandon()
            await receiver.discard()
            throw error
        }
    }

    private func receiveMultipart<Body: AsyncSequence>(_ body: Body, boundary: String, into receiver: FileReceiver) async throws
    where Body.Element == [UInt8] {
        var parser = MultipartParser(boundary: boundary)
        var inFilePart = false
        var sawFile = false
        func handle(_ events: [MultipartEvent]) async throws {
            for event in events {
                switch event {
                case .partBegin(let headers):
                    guard let fileName = headers.filename else { continue }
                    guard !sawFile else {
                        throw ServiceError(.invalid, "one_file_per_upload", "the multipart body has more than one file part; upload each file on its own")
                    }
                    try receiver.begin(fileName: fileName)
                    inFilePart = true
                    sawFile = true
                case .partData(let bytes):
                    if inFilePart { try await receiver.receive(bytes) }
                case .partEnd:
                    inFilePart = false
                case .end:
                    break
                }
            }
        }
        do {
            for try await chunk in body { try await handle(try parser.feed(chunk)) }
            try await handle(try parser.finish())
        } catch let error as MultipartError {
            throw ServiceError(.invalid, "malformed_multipart", "the multipart body is malformed: \(error)")
        }
        guard sawFile else {
            throw ServiceError(.invalid, "file_part_missing", "the multipart body has no part with a filename")
        }
    }

    /// Records the file in the ledger and renames it into place in one transaction; a duplicate
    /// (same content, not forced) is answered with the existing entry instead.
    private func publish(_ staged: StagedFile, request: UploadRequest, receiver: FileReceiver) async throws -> UploadResult {
        let tenant = request.tenant
        let finalPath = try staging.finalPath(tenant: tenant, id: receiver.id, sanitizedName: receiver.storedName)
        let arriving = receiver.arriving?.beginPublication() == true ? receiver.arriving : nil
        let outcome: (FileRecord, Bool)
        do {
            outcome = try await publishTransaction(staged, finalPath: finalPath, request: request, receiver: receiver,
                                                   arriving: arriving)
        } catch {
            arriving?.abandon()
            // The rename may have happened in a transaction that then failed to commit.
            unlink(finalPath)
            throw error
        }
        if let arriving, !outcome.1, outcome.0.state == "ingesting" {
            arriving.publish(FileQueue.Claim(file: outcome.0, receivedAt: outcome.0.receivedAt, queuedAt: outcome.0.receivedAt,
                                             startedAt: arriving.startedAt))
        } else {
            arriving?.abandon()
        }
        if outcome.1 {
            await receiver.discard()
        } else {
            ingest?.filesStaged()
        }
        logger.info(outcome.1 ? "duplicate upload" : "file staged",
                    metadata: ["tenant": "\(tenant)", "file": "\(outcome.0.id)", "bytes": "\(outcome.0.size)"])
        return UploadResult(file: outcome.0, duplicate: outcome.1)
    }

    /// With `arriving`, the file is recorded as `ingesting` under that ingest's lease if no other file of
    /// the tenant is waiting or being ingested (so files still commit in arrival order), else as `received`.
    private func publishTransaction(_ staged: StagedFile, finalPath: String, request: UploadRequest,
                                    receiver: FileReceiver, arriving: ArrivingFile?) async throws -> (FileRecord, Bool) {
        let tenant = request.tenant
        let quota = Int64(receiver.tenant.constraints.storageQuotaBytes)
        let maximumStaged = receiver.tenant.constraints.maxStagedFiles
        let force = request.force
        let id = receiver.id, originalName = receiver.originalName, storedName = receiver.storedName
        let fileType = receiver.fileType
        let lease = arriving.map { (owner: $0.owner, seconds: Double($0.lease.components.seconds), startedAt: $0.startedAt) }
        return try await pool.withConnection { connection -> (FileRecord, Bool) in
            try connection.withTransaction { connection in
                // Serialise publications per tenant so the limits hold under concurrent uploads; a tenant marked for
                // deletion (under the same lock) takes no more files.
                _ = try connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.init(TenantService.uploadLock(tenant))])
                guard try !connection.query("SELECT 1 FROM sluice.tenants WHERE id = $1 AND deleting_since IS NULL",
                                            [.init(tenant)]).isEmpty else { throw ServiceError.tenantNotFound(tenant) }
                if !force, let existing = try connection.query(
                    "SELECT \(FileRecord.columns) FROM sluice.files WHERE tenant_id = $1 AND sha256 = $2 AND state <> 'deleted' ORDER BY received_at LIMIT 1",
                    [.init(tenant), .init(staged.sha256)]).first {
                    return (try FileRecord(row: existing), true)
                }
                let usage = try Self.usage(tenant: tenant, on: connection)
                guard usage.stagedFiles < maximumStaged else {
                    throw ServiceError(.rateLimited, "too_many_staged_files",
                                       "\(usage.stagedFiles) files are staged and not yet ingested (limit \(maximumStaged))",
                                       retryAfterSeconds: 30)
                }
                guard usage.storedBytes + staged.size <= quota else {
                    throw ServiceError(.insufficientStorage, "quota_exceeded",
                                       "the tenant's storage quota of \(quota) bytes would be exceeded")
                }
                let values: [PostgresValue] = [.init(id), .init(tenant), .init(originalName), .init(storedName),
                                               .init(fileType.format.rawValue), .init(fileType.gzip), .init(staged.size), .init(staged.sha256)]
                let inserted: PostgresRows
                if let lease, usage.stagedFiles == 0 {
                    inserted = try connection.query("""
                        INSERT INTO sluice.files (id, tenant_id, original_name, stored_name, format, compressed, size, sha256, state,
                                                  queued_at, ingest_started_at, lease_owner, lease_expires_at, attempts)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ingesting', now(), $9, $10, now() + make_interval(secs => $11), 1)
                        RETURNING \(FileRecord.columns)
                        """, values + [.init(lease.startedAt), .init(lease.owner), .init(lease.seconds)])
                } else {
                    inserted = try connection.query("""
                        INSERT INTO sluice.files (id, tenant_id, original_name, stored_name, format, compressed, size, sha256, state)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received') RETURNING \(FileRecord.columns)
                        """, values)
                }
                try StagingFileWriter.durableRename(from: staged.path, to: finalPath)
                guard let row = inserted.first else {
                    throw ServiceError(.unavailable, "ledger_insert_failed", "the ledger did not return the new file")
                }
                return (try FileRecord(row: row), false)
            }
        }
    }

    /// One file's entry.
    public func file(tenant: String, id: String) async throws -> FileRecord {
        try await FileRecord.fetch(tenant: tenant, id: id, pool: pool)
    }

    /// The tenant's files, newest first, at most `limit`; `before` (a file id) continues a listing.
    /// File ids sort by arrival, so they double as the paging cursor.
    public func files(tenant: String, limit: Int, state: String?, before: String?) async throws -> [FileRecord] {
        try await pool.query("""
            SELECT \(FileRecord.columns) FROM sluice.files
            WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR id < $3)
            ORDER BY id DESC LIMIT $4
            """, [.init(tenant), .init(state), .init(before), .init(limit)]).map { try FileRecord(row: $0) }
    }

    struct Usage {
        var stagedFiles: Int
        var storedBytes: Int64
        /// Whether any tenant's file is queued for ingestion.
        var queuedAnywhere: Bool
    }

    static func usage(tenant: String, pool: PostgresConnectionPool) async throws -> Usage {
        try await pool.withConnection { try usage(tenant: tenant, on: $0) }
    }

    static func usage(tenant: String, on connection: PostgresConnection) throws -> Usage {
        let row = try connection.query("""
            SELECT count(*) FILTER (WHERE state IN ('received', 'queued', 'ingesting'))::int AS staged,
                   coalesce(sum(size), 0)::bigint AS stored,
                   EXISTS (SELECT 1 FROM sluice.files WHERE state = 'queued') AS queued_anywhere
            FROM sluice.files WHERE tenant_id = $1 AND state <> 'deleted'
            """, [.init(tenant)]).first
        return Usage(stagedFiles: try row?.decode(Int.self, "staged") ?? 0, storedBytes: try row?.decode(Int64.self, "stored") ?? 0,
                     queuedAnywhere: try row?.decode(Bool.self, "queued_anywhere") ?? false)
    }
}
