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
        var removed = try staging.sweepTemporaryFiles()
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
        let tenants = (try? FileManager.default.contentsOfDirectory(atPath: staging.root)) ?? []
        for tenant in tenants where StagingArea.isValidTenant(tenant) {
            for name in try await staging.listFiles(tenant: tenant) {
                let path = try await staging.inDirectory(tenant) + "/" + name
                guard !known.contains(path) else { continue }
                try? FileManager.default.removeItem(atPath: path)
                removed.append(path)
            }
        }
        for file in pending where !FileManager.default.fileExists(atPath: file.path) {
            _ = try await pool.execute("""
                UPDATE sluice.files SET state = 'failed', state_changed_at = now(), error = 'the staged file is missing'
                WHERE id = $1
                """, [.init(file.id)])
            logger.error("staged file missing", metadata: ["file": "\(file.id)", "path": "\(file.path)"])
        }
        return removed
    }
}
