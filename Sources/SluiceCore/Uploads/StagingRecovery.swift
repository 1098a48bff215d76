import Foundation
import Logging
import SluiceCommon
import SluiceStore

/// Restores the staging invariant after a crash — a file is visible exactly when its ledger row exists —
/// removing only what is provably dead, since other live instances share the staging directory:
/// temporary files of instances whose heartbeat has expired, and files renamed into place whose ledger
/// row still does not exist ``unrecordedGrace`` after they were written (their transaction never
/// committed; a publication in progress commits within seconds). A pending file whose staged copy is
/// missing is left to the queue, which retries it (on any instance) before it fails.
public struct StagingRecovery: Sendable {
    /// How long a staged file without a ledger row is left alone.
    public static let unrecordedGrace: TimeInterval = 600

    private let pool: PostgresConnectionPool
    private let staging: StagingArea
    private let instanceExpiry: Duration
    private let logger: Logger

    /// `instanceExpiry`: an instance whose heartbeat is older is dead (``InstanceHeartbeat/expiry``).
    public init(pool: PostgresConnectionPool, staging: StagingArea, instanceExpiry: Duration, logger: Logger) {
        self.pool = pool
        self.staging = staging
        self.instanceExpiry = instanceExpiry
        self.logger = logger
    }

    /// Runs again every `instanceExpiry` until cancelled: what a crashed instance left is removed once its
    /// heartbeat has expired, not only when some instance starts.
    public func runPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: instanceExpiry)
            guard !Task.isCancelled else { return }
            do {
                let removed = try await run()
                if !removed.isEmpty { logger.notice("removed unpublished staging files", metadata: ["files": "\(removed)"]) }
            } catch {
                logger.warning("staging recovery failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Staged files the ledger is asked about per query.
    static let batchSize = 1000

    /// Returns the paths it removed.
    public func run() async throws -> [String] {
        // Each instance is judged by its own heartbeat interval (the observer's for rows from before it was kept).
        let live = Set(try await pool.query("""
            SELECT id FROM sluice.instances
            WHERE last_seen > now() - make_interval(secs => $1 * coalesce(heartbeat_seconds, $2))
            """, [.init(InstanceHeartbeat.beatsToExpiry), .init(instanceExpiry.secondsValue / Double(InstanceHeartbeat.beatsToExpiry))])
            .compactMap { try $0.decode(String.self, "id") }.map(StagingArea.fileNameSafe))
        let staging = staging
        let quiet = instanceExpiry.secondsValue
        // File-system work stays off the cooperative pool; the ledger is asked only about old unrecorded-looking files.
        let (removed, candidates) = try await runOnDedicatedThread(name: "sluice-staging-recovery") {
            () throws -> ([String], [(id: String, path: String)]) in
            let removed = try staging.sweepTemporaryFiles(keeping: live.union([staging.instance]), quiet: quiet,
                                                          legacyGrace: Self.unrecordedGrace)
            let manager = FileManager.default
            let now = Date()
            var candidates: [(id: String, path: String)] = []
            for tenant in (try? manager.contentsOfDirectory(atPath: staging.root)) ?? [] where TenantDefinition.isValidID(tenant) {
                let inbox = try staging.tenantDirectory(tenant) + "/in"
                for name in (try? manager.contentsOfDirectory(atPath: inbox)) ?? [] where !name.hasPrefix(".") {
                    let path = inbox + "/" + name
                    guard let id = name.split(separator: "-", maxSplits: 1).first.map(String.init), FileID.isValid(id),
                          let written = (try? manager.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                          now.timeIntervalSince(written) > Self.unrecordedGrace else { continue }
                    candidates.append((id, path))
                }
            }
            return (removed, candidates)
        }
        // Asked in batches: every staged file of every tenant may be a candidate.
        var unrecorded: [String] = []
        for start in stride(from: 0, to: candidates.count, by: Self.batchSize) {
            let batch = candidates[start..<min(start + Self.batchSize, candidates.count)]
            let recorded = Set(try await pool.query("SELECT id FROM sluice.files WHERE id = ANY($1::text[]) AND state <> 'deleted'",
                                                    [.array(batch.map(\.id))])
                .compactMap { try $0.decode(String.self, "id") })
            unrecorded += batch.filter { !recorded.contains($0.id) }.map(\.path)
        }
        try await staging.removeFiles(unrecorded)
        return removed + unrecorded
    }
}
