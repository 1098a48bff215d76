import Foundation
import SluiceCore
import SluiceStore
import SluiceTestSupport
import Testing

/// A tenant id names a schema: it can never name one of PostgreSQL's or Sluice's, nor take over one that
/// exists, and deleting a tenant drops only a schema Sluice created.
@Suite struct TenantSchemaTests {
    static let admin = InProcessSluice.adminToken

    @Test func reservedIDsAreRefused() async throws {
        try await InProcessSluice.with { sluice in
            // PostgreSQL's and Sluice's schemas, and SQL's reserved words (the store's own list).
            for id in ["public", "information_schema", "pg_catalog", "pg_toast", "pg_anything", "sluice", "sluice_monitor",
                       "select", "user", "table", "order"] {
                let response = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin,
                                                     headers: [("Content-Type", "application/yaml")],
                                                     body: .bytes(Array(tenantYAML(id).utf8)))
                #expect(response.status == 422, "\(id): \(response.status) \(response.text)")
                #expect(response.errorCode == "reserved_tenant_id", "\(id): \(response.text)")
            }
            let rows = try sluice.query("SELECT count(*)::int AS n FROM sluice.tenants").first?["n", as: Int.self]
            #expect(rows == 0)
            // Deleting one answers 404 and leaves PostgreSQL's schema alone (it answered 200 and dropped it before).
            let delete = try await sluice.send("DELETE", "/api/v1/tenants/information_schema?confirm=information_schema", token: Self.admin)
            #expect(delete.status == 404)
            #expect(try sluice.query("SELECT count(*)::int AS n FROM information_schema.schemata").first?["n", as: Int.self] ?? 0 > 0)
            // An id that only looks like one is fine.
            _ = try await sluice.createTenant(tenantYAML("pg-like"), contentType: "application/yaml")
        }
    }

    @Test func aSchemaThatExistsIsNeverTakenOver() async throws {
        try await InProcessSluice.with { sluice in
            try sluice.execute("CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int PRIMARY KEY); INSERT INTO billing.invoices VALUES (1)")
            let response = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin,
                                                 headers: [("Content-Type", "application/yaml")],
                                                 body: .bytes(Array(tenantYAML("billing").utf8)))
            #expect(response.status == 409, "\(response.text)")
            #expect(response.errorCode == "schema_exists")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM sluice.tenants").first?["n", as: Int.self] == 0)
            #expect(try sluice.query("SELECT count(*)::int AS n FROM billing.invoices").first?["n", as: Int.self] == 1)
            let tables = try sluice.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'billing'").first?["n", as: Int.self]
            #expect(tables == 1, "no tenant table was added to it")
        }
    }

    /// A tenant whose schema Sluice did not create (one an earlier version adopted) is deleted without it.
    @Test func deletingATenantDropsOnlyASchemaSluiceCreated() async throws {
        try await InProcessSluice.with { sluice in
            _ = try await sluice.createTenant(tenantYAML("ours"), contentType: "application/yaml")
            _ = try await sluice.createTenant(tenantYAML("adopted"), contentType: "application/yaml")
            try sluice.execute("UPDATE sluice.tenants SET schema_created = false WHERE id = 'adopted'")
            for id in ["ours", "adopted"] {
                #expect(try await sluice.send("DELETE", "/api/v1/tenants/\(id)?confirm=\(id)", token: Self.admin).status == 200)
            }
            let schemas = try sluice.query("SELECT nspname FROM pg_namespace WHERE nspname IN ('ours', 'adopted')")
                .map { try $0["nspname", as: String.self] }
            #expect(schemas == ["adopted"])
        }
    }

    /// Tenants of earlier versions count as having had their schema created when Sluice's role owns it and it is
    /// not a reserved one; a schema another role owns was adopted, and stays when its tenant goes.
    @Test func theMigrationMarksOnlyOwnUnreservedSchemasAsCreated() async throws {
        let database = try await TestPostgres.makeDatabase()
        let pool = PostgresConnectionPool(connectionString: database)
        defer { Task { await pool.close() } }
        let before = try #require(PlatformSchema.migrations.firstIndex { $0.name == "tenant schemas Sluice created" })
        _ = try await PostgresMigrator(schema: PlatformSchema.name, migrations: Array(PlatformSchema.migrations[..<before])).migrate(using: pool)
        for id in ["tenant-a", "adopted", "public", "information_schema", "select", "pg_temp_x", "sluice_x"] {
            try await pool.execute("INSERT INTO sluice.tenants (id, display_name, definition, source) VALUES ($1, $1, '{}', 'api')", [.init(id)])
        }
        try await pool.execute(#"CREATE SCHEMA "tenant-a""#)
        try await TestPostgres.asSuperuser(on: database, "CREATE SCHEMA adopted")
        _ = try await PlatformSchema.migrator.migrate(using: pool)
        let created = try await pool.query("SELECT id FROM sluice.tenants WHERE schema_created ORDER BY id").map { try $0["id", as: String.self] }
        #expect(created == ["tenant-a"])
    }
}
