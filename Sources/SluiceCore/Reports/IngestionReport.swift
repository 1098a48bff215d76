import Foundation
import SluiceStore

/// What one ingestion did: a batch file or a stream window, its volume, timing and outcome.
///
/// The derived timings (`duration_seconds`, `latency_seconds`, throughput) are computed from the
/// timestamps; `finished_at` is the commit time of the ingestion's last chunk.
public struct IngestionReport: Sendable, Encodable, Equatable {
    /// What was ingested.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case batch, stream
    }

    /// How the ingestion ended.
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        case succeeded, partial, failed
    }

    /// Assigned on insert; nil for a report not read from the database.
    public var id: Int64?
    public var tenantID: String
    public var kind: Kind
    /// The file id (batch) or the stream-window id (stream).
    public var sourceID: String
    public var sourceName: String?
    public var bytes: Int64
    public var rowsTotal: Int64?
    public var rowsIngested: Int64?
    public var rowsRejected: Int64?
    /// Rejected rows per reason code.
    public var rejectedByReason: [String: Int64]
    /// When the data arrived (upload staged, or window opened); nil if unknown.
    public var receivedAt: Date?
    public var startedAt: Date
    public var finishedAt: Date
    public var appKind: String?
    public var outcome: Outcome
    public var error: String?
    public var diagnostics: String?
    /// A stream window's details; `nil` for a file.
    public var stream: StreamWindowDetails?

    public init(
        tenantID: String, kind: Kind, sourceID: String, sourceName: String? = nil, bytes: Int64,
        rowsTotal: Int64? = nil, rowsIngested: Int64? = nil, rowsRejected: Int64? = nil,
        rejectedByReason: [String: Int64] = [:], receivedAt: Date? = nil, startedAt: Date, finishedAt: Date,
        appKind: String? = nil, outcome: Outcome, error: String? = nil, diagnostics: String? = nil,
        stream: StreamWindowDetails? = nil
    ) {
        self.tenantID = tenantID
        self.kind = kind
        self.sourceID = sourceID
        self.sourceName = sourceName
        self.bytes = bytes
        self.rowsTotal = rowsTotal
        self.rowsIngested = rowsIngested
        self.rowsRejected = rowsRejected
        self.rejectedByReason = rejectedByReason
        self.receivedAt = receivedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.appKind = appKind
        self.outcome = outcome
        self.error = error
        self.diagnostics = diagnostics
        self.stream = stream
    }

    /// The file id for a batch report; nil for a stream window.
    public var fileID: String? { kind == .batch ? sourceID : nil }
    /// Seconds from arrival to the start of ingestion; 0 for a file ingested while it was uploaded (its
    /// ingestion started before it had fully arrived).
    public var queueWaitSeconds: Double? { receivedAt.map { max(0, startedAt.timeIntervalSince($0)) } }
    /// Seconds from start to commit.
    public var durationSeconds: Double { finishedAt.timeIntervalSince(startedAt) }
    /// Seconds from arrival to commit: a file's, or the mean of a stream window's messages.
    public var latencySeconds: Double? {
        stream?.latencyMeanSeconds ?? receivedAt.map { finishedAt.timeIntervalSince($0) }
    }
    /// Bytes per second of ingestion; nil for a zero duration.
    public var bytesPerSecond: Double? { durationSeconds > 0 ? Double(bytes) / durationSeconds : nil }
    /// Ingested rows per second; nil without a row count or for a zero duration.
    public var rowsPerSecond: Double? {
        guard let rowsIngested, durationSeconds > 0 else { return nil }
        return Double(rowsIngested) / durationSeconds
    }

    /// Throws `invalid_report` for a report that cannot be stored as is.
    func validate() throws {
        if tenantID.isEmpty { throw ServiceError(.invalid, "invalid_report", "tenant_id is empty") }
        if sourceID.isEmpty { throw ServiceError(.invalid, "invalid_report", "source_id is empty") }
        if bytes < 0 { throw ServiceError(.invalid, "invalid_report", "bytes is negative") }
        if finishedAt < startedAt { throw ServiceError(.invalid, "invalid_report", "finished_at precedes started_at") }
        let counts = [rowsTotal, rowsIngested, rowsRejected].compactMap { $0 } + Array(rejectedByReason.values)
        if counts.contains(where: { $0 < 0 }) { throw ServiceError(.invalid, "invalid_report", "a row count is negative") }
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, bytes, outcome, error, diagnostics, stream
        case tenantID = "tenant_id", sourceID = "source_id", fileID = "file_id", sourceName = "source_name"
        case rowsTotal = "rows_total", rowsIngested = "rows_ingested", rowsRejected = "rows_rejected"
        case rejectedByReason = "rejected_by_reason", receivedAt = "received_at"
        case queueWaitSeconds = "queue_wait_seconds", startedAt = "started_at", finishedAt = "finished_at"
        case durationSeconds = "duration_seconds", latencySeconds = "latency_seconds"
        case bytesPerSecond = "bytes_per_second", rowsPerSecond = "rows_per_second", appKind = "app_kind"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encode(tenantID, forKey: .tenantID)
        try container.encode(kind, forKey: .kind)
        try container.encode(sourceID, forKey: .sourceID)
        try container.encodeIfPresent(fileID, forKey: .fileID)
        try container.encode(sourceName, forKey: .sourceName)
        try container.encode(bytes, forKey: .bytes)
        try container.encode(rowsTotal, forKey: .rowsTotal)
        try container.encode(rowsIngested, forKey: .rowsIngested)
        try container.encode(rowsRejected, forKey: .rowsRejected)
        try container.encode(rejectedByReason, forKey: .rejectedByReason)
        try container.encode(receivedAt, forKey: .receivedAt)
        try container.encode(queueWaitSeconds, forKey: .queueWaitSeconds)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(durationSeconds, forKey: .durationSeconds)
        try container.encode(latencySeconds, forKey: .latencySeconds)
        try container.encode(bytesPerSecond, forKey: .bytesPerSecond)
        try container.encode(rowsPerSecond, forKey: .rowsPerSecond)
        try container.encode(appKind, forKey: .appKind)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(error, forKey: .error)
        try container.encode(diagnostics, forKey: .diagnostics)
        try container.encodeIfPresent(stream, forKey: .stream)
    }
}

extension IngestionReport {
    /// The columns `init(row:)` reads.
    static let columns = """
        id, tenant_id, kind, source_id, source_name, bytes, rows_total, rows_ingested, rows_rejected, \
        rejected_by_reason, received_at, started_at, finished_at, app_kind, outcome, error, diagnostics, details
        """

    init(row: PostgresRow) throws {
        func required<T: PostgresDecodable>(_ type: T.Type, _ column: String) throws -> T {
            guard let value = try row.decode(type, column) else {
                throw PostgresError(code: .decodeFailed, message: "column \"\(column)\" is NULL")
            }
            return value
        }
        func enumeration<T: RawRepresentable<String>>(_ type: T.Type, _ column: String) throws -> T {
            let text = try required(String.self, column)
            guard let value = T(rawValue: text) else {
                throw PostgresError(code: .decodeFailed, message: "column \"\(column)\": unknown value \"\(text)\"")
            }
            return value
        }
        let reasons = try required(String.self, "rejected_by_reason")
        self.init(
            tenantID: try required(String.self, "tenant_id"), kind: try enumeration(Kind.self, "kind"),
            sourceID: try required(String.self, "source_id"), sourceName: try row.decode(String.self, "source_name"),
            bytes: try required(Int64.self, "bytes"), rowsTotal: try row.decode(Int64.self, "rows_total"),
            rowsIngested: try row.decode(Int64.self, "rows_ingested"),
            rowsRejected: try row.decode(Int64.self, "rows_rejected"),
            rejectedByReason: try JSONDecoder().decode([String: Int64].self, from: Data(reasons.utf8)),
            receivedAt: try row.decode(Date.self, "received_at"), startedAt: try required(Date.self, "started_at"),
            finishedAt: try required(Date.self, "finished_at"), appKind: try row.decode(String.self, "app_kind"),
            outcome: try enumeration(Outcome.self, "outcome"), error: try row.decode(String.self, "error"),
            diagnostics: try row.decode(String.self, "diagnostics"),
            stream: try row.decode(String.self, "details").map { try JSONDecoder().decode(StreamWindowDetails.self, from: Data($0.utf8)) })
        id = try required(Int64.self, "id")
    }
}
