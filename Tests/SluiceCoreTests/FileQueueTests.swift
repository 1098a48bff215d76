import Foundation
import SluiceCore
import SluiceStore
import SluiceTestSupport
import Testing

/// The ledger as a work queue, claimed by many workers at once over separate connections (as several
/// processes would): tenant concurrency limits, arrival order and the attempts cap.
@Suite struct FileQueueTests {
    private func migratedPool(connections: Int) async throws -> PostgresConnectionPool {
        let pool = try await TestPostgres.makePool(configuration: .init(maximumConnections: connections))
        _ = try await PostgresMigrator(schema: "sluice", migrations: PlatformSchema.migrations).migrate(using: pool)
        return pool
    }

    /// A tenant row (only what the queue reads) and `files` queued files of it, arriving a millisecond apart.
    private func queue(_ pool: PostgresConnectionPool, tenant: String, concurrency: Int, files: Int) async throws -> [String] {
        try await pool.execute("""
            INSERT INTO sluice.tenants (id, display_name, definition, source)
            VALUES ($1, $1, jsonb_build_object('service_agreement', jsonb_build_object('resources',
                    jsonb_build_object('concurrency', $2::int))), 'api')
            """, [.init(tenant), .init(concurrency)])
        let ids = (0..<files).map { String(format: "f%@%04d", tenant, $0) }
        for (index, id) in ids.enumerated() {
            try await pool.execute("""
                INSERT INTO sluice.files (id, tenant_id, original_name, stored_name, format, compressed, size, sha256, state,
                                          received_at, queued_at)
                VALUES ($1, $2, 'f.csv', 'f.csv', 'csv', false, 1, $1, 'queued',
                        now() + make_interval(secs => $3), now())
                """, [.init(id), .init(tenant), .init(Double(index) / 1000)])
        }
        return ids
    }

    @Test func concurrentClaimersNeverExceedATenantsConcurrencyNorSkipItsOrder() async throws {
        let claimers = 8
        let pool = try await migratedPool(connections: claimers + 1)
        defer { Task { await pool.close() } }
        let ids = try await queue(pool, tenant: "solo", concurrency: 1, files: 12)
        let queue = FileQueue(pool: pool)

        var finishedInOrder: [String] = []
        for _ in ids {
            // Every claimer tries at the same moment; exactly one may get the tenant's next file.
            let claims = try await withThrowingTaskGroup(of: FileQueue.Claim?.self) { group in
                for index in 0..<claimers {
                    group.addTask { try await queue.claim(owner: "worker-\(index)", lease: .seconds(60)) }
                }
                return try await group.reduce(into: [FileQueue.Claim]()) { if let claim = $1 { $0.append(claim) } }
            }
            try #require(claims.count == 1, "\(claims.count) claims of a tenant with concurrency 1: \(claims.map(\.file.id))")
            let claim = claims[0]
            finishedInOrder.append(claim.file.id)
            try await pool.execute("""
                UPDATE sluice.files SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL WHERE id = $1
                """, [.init(claim.file.id)])
        }
        #expect(finishedInOrder == ids)
    }

    @Test func aTenantWithConcurrencyTwoGetsTwoAtATime() async throws {
        let pool = try await migratedPool(connections: 9)
        defer { Task { await pool.close() } }
        let ids = try await queue(pool, tenant: "pair", concurrency: 2, files: 6)
        let queue = FileQueue(pool: pool)
        let claims = try await withThrowingTaskGroup(of: FileQueue.Claim?.self) { group in
            for index in 0..<8 { group.addTask { try await queue.claim(owner: "worker-\(index)", lease: .seconds(60)) } }
            return try await group.reduce(into: [FileQueue.Claim]()) { if let claim = $1 { $0.append(claim) } }
        }
        #expect(Set(claims.map(\.file.id)) == Set(ids.prefix(2)))
    }

    @Test func replayResetsTheAttempts() async throws {
        let pool = try await migratedPool(connections: 2)
        defer { Task { await pool.close() } }
        let ids = try await queue(pool, tenant: "again", concurrency: 1, files: 1)
        try await pool.execute("UPDATE sluice.files SET state = 'failed', attempts = 6, error = 'too_many_attempts: …' WHERE id = $1",
                               [.init(ids[0])])
        let replayed = try await FileQueue(pool: pool).replay(tenant: "again", fileID: ids[0])
        #expect(replayed.attempts == 0)
        #expect(replayed.state == "queued")
        #expect(replayed.error == nil)
    }
}
