import Foundation
import SluiceStore

/// Turns a claimed file and its outcome into its ingestion report.
struct IngestReportBuilder: Sendable {
    let claim: FileQueue.Claim

    /// Inserts the report in the caller's transaction (the one that commits the file's rows and state).
    func insert(_ outcome: FileIngestor.Outcome, appKind: String?, on connection: PostgresConnection) throws {
        let file = claim.file
        let report = IngestionReport(
            tenantID: file.tenant, kind: .batch, sourceID: file.id, sourceName: file.originalName, bytes: file.size,
            rowsTotal: Int64(outcome.rowsTotal), rowsIngested: Int64(outcome.rowsIngested),
            rowsRejected: Int64(outcome.rowsRejected), rejectedByReason: outcome.rejectedByReason.mapValues(Int64.init),
            receivedAt: claim.receivedAt, startedAt: claim.startedAt, finishedAt: Date(), appKind: appKind,
            outcome: IngestionReport.Outcome(rawValue: outcome.state) ?? .failed, error: outcome.error,
            diagnostics: outcome.diagnostics)
        _ = try IngestionReports.insert(report, on: connection)
    }
}
