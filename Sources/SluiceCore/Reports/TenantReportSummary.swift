/// One tenant's ingestion reports over a period, aggregated.
public struct TenantReportSummary: Sendable, Encodable, Equatable {
    public var tenantID: String
    /// Reports of both kinds.
    public var reports: Int
    /// Batch reports (files) by outcome.
    public var filesSucceeded: Int
    public var filesPartial: Int
    public var filesFailed: Int
    /// Stream windows reported (by every process that took the tenant's stream traffic).
    public var streamWindows: Int
    public var rowsTotal: Int64
    public var rowsIngested: Int64
    public var rowsRejected: Int64
    public var bytes: Int64
    /// Over reports that know their arrival time; nil if none does.
    public var meanLatencySeconds: Double?
    public var maxLatencySeconds: Double?

    enum CodingKeys: String, CodingKey {
        case reports, bytes
        case tenantID = "tenant_id", filesSucceeded = "files_succeeded", filesPartial = "files_partial"
        case filesFailed = "files_failed", streamWindows = "stream_windows", rowsTotal = "rows_total", rowsIngested = "rows_ingested"
        case rowsRejected = "rows_rejected", meanLatencySeconds = "mean_latency_seconds"
        case maxLatencySeconds = "max_latency_seconds"
    }
}
