import Foundation
import Logging
import SluiceStore

/// Restores the staging invariant after a crash: a file is visible exactly when its ledger row exists.
/// Partial uploads (temporary files) and files renamed into place whose transaction never committed
/// are removed; ledger rows whose pending file vanished are marked failed.
public struct StagingRecovery: Sendable {
    private let pool: PostgresConnectionPool
    private let staging: StagingArea
    private let logger: Logger

    public init(pool: PostgresConnectionPool, staging: StagingArea, logger: Logger) {
        self.pool = pool
        self.staging = staging
        self.logger = logger
    }

    /// Returns the paths it removed.
    public func run() async throws -> [String] {
        let rows = try await pool.query(
            "SELECT id, tenant_id, stored_name, state FROM sluice.files WHERE state <> 'deleted'")
        var known = Set<String>()
        var pending: [(id: String, path: String)] = []
        for row in rows {
            guard let id = try row.decode(String.self, "id"), let tenant = try row.decode(String.self, "tenant_id"),
                  let name = try row.decode(String.self, "stored_name") else { continue }
            let path = try staging.finalPath(tenant: tenant, id: id, sanitizedName: name)
            known.insert(path)
            if ["received", "queued", "ingesting"].contains(try row.decode(String.self, "state") ?? "") {
                pending.append((id, path))
            }
        }
        let staging = staging
        let pendingPaths = pending
        let knownPaths = known
        // File-system work stays off the cooperative pool.
        let (removed, missing) = try await runOnDedicatedThread(name: "sluice-staging-recovery") { () throws -> ([String], [String]) in
            var removed = try staging.sweepTemporaryFiles()
            let manager = FileManager.default
            for tenant in (try? manager.contentsOfDirectory(atPath: staging.root)) ?? [] where StagingArea.isValidTenant(tenant) {
                let inbox = try staging.tenantDirectory(tenant) + "/in"
                for name in (try? manager.contentsOfDirectory(atPath: inbox)) ?? []
                where !name.hasPrefix(".") && !knownPaths.contains(inbox + "/" + name) {
                    try? manager.removeItem(atPath: inbox + "/" + name)
                    removed.append(inbox + "/" + name)
                }
            }
            return (removed, pendingPaths.filter { !manager.fileExists(atPath: $0.path) }.map(\.id))
        }
        for id in missing {
            _ = try await pool.execute("""
                UPDATE sluice.files SET state = 'failed', state_changed_at = now(), error = 'the staged file is missing'
                WHERE id = $1
                """, [.init(id)])
            logger.error("staged file missing", metadata: ["file": "\(id)"])
        }
        return removed
    }
}
