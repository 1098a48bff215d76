import SluiceCore
import SluiceStore
import SluiceTestSupport
import Testing

@Suite struct TenantStorageTests {
    private struct Column: Equatable {
        var name: String
        var type: String
        var nullable: Bool
    }

    private func columns(_ pool: PostgresConnectionPool, schema: String, table: String) async throws -> [Column] {
        let rows = try await pool.query("""
            SELECT column_name, data_type, is_nullable FROM information_schema.columns
            WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position
            """, [.init(schema), .init(table)])
        return try rows.map {
            Column(
                name: try #require(try $0.text("column_name")), type: try #require(try $0.text("data_type")),
                nullable: try $0.text("is_nullable") == "YES")
        }
    }

    private func primaryKey(_ pool: PostgresConnectionPool, schema: String, table: String) async throws -> [String] {
        let rows = try await pool.query("""
            SELECT k.column_name FROM information_schema.table_constraints c
            JOIN information_schema.key_column_usage k
              ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
            WHERE c.table_schema = $1 AND c.table_name = $2 AND c.constraint_type = 'PRIMARY KEY'
            ORDER BY k.ordinal_position
            """, [.init(schema), .init(table)])
        return try rows.map { try #require(try $0.text(at: 0)) }
    }

    private func create(_ definition: TenantDefinition, in pool: PostgresConnectionPool) async throws {
        let statements = TenantStorage(definition: definition).createStatements()
        try await pool.withTransaction { connection in
            try connection.execute("CREATE SCHEMA IF NOT EXISTS \(PostgresIdentifier.quote(definition.id))")
            for statement in statements { try connection.execute(statement) }
        }
    }

    private func parse(_ yaml: String) throws -> TenantDefinition {
        try TenantDefinitionParser.parse(Array(yaml.utf8), format: .yaml).definition
    }

    @Test func createsTablesForBothExamples() async throws {
        let pool = try await TestPostgres.makePool()
        let tenantA = try TenantFixtures.parse("examples/tenants/tenant-a.yaml").definition
        let tenantB = try TenantFixtures.parse("examples/tenants/tenant-b.yaml").definition
        try await create(tenantA, in: pool)
        try await create(tenantB, in: pool)
        try await create(tenantA, in: pool) // idempotent

        let columnsA = try await columns(pool, schema: "tenant-a", table: "analytics")
        #expect(columnsA.map(\.name) == tenantA.schema.fields.map(\.name) + ["_sluice_source_id", "_sluice_ingested_at"])
        #expect(columnsA.first { $0.name == "IFINDEX" } == Column(name: "IFINDEX", type: "integer", nullable: false))
        #expect(columnsA.first { $0.name == "SPEEDIN" }?.type == "double precision")
        #expect(columnsA.first { $0.name == "TIME" }?.type == "text")
        #expect(columnsA.first { $0.name == "_sluice_ingested_at" } ==
            Column(name: "_sluice_ingested_at", type: "timestamp with time zone", nullable: false))
        #expect(try await primaryKey(pool, schema: "tenant-a", table: "analytics") == ["PROVINCECODE", "DEVICEID", "ONUID", "TIME"])

        let columnsB = try await columns(pool, schema: "tenant-b", table: "product_reviews")
        #expect(columnsB.count == 17)
        #expect(columnsB.first { $0.name == "review_date" } == Column(name: "review_date", type: "date", nullable: false))
        #expect(columnsB.first { $0.name == "star_rating" }?.type == "integer")
        #expect(try await primaryKey(pool, schema: "tenant-b", table: "product_reviews") == ["product_id", "review_id", "customer_id"])

        let index = try await pool.query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
            [.init("tenant-a"), .init(TenantStorage(definition: tenantA).sourceIndexName)])
        #expect(try index.first?.text(at: 0)?.contains("(_sluice_source_id)") == true)
        await pool.close()
    }

    @Test func everyTypeMapsToItsColumnType() async throws {
        let pool = try await TestPostgres.makePool()
        let definition = try parse("""
            id: types
            schema:
              name: all_types
              fields:
                - { name: s, type: string }
                - { name: i, type: int }
                - { name: l, type: long }
                - { name: f, type: float }
                - { name: d, type: double }
                - { name: b, type: boolean }
                - { name: dt, type: { type: int, logicalType: date } }
                - { name: ts, type: ["null", { type: long, logicalType: timestamp-millis }] }
            primary_key: [s]
            """)
        try await create(definition, in: pool)
        let found = try await columns(pool, schema: "types", table: "all_types").prefix(8)
        #expect(found.map(\.type) == [
            "text", "integer", "bigint", "real", "double precision", "boolean", "date", "timestamp with time zone",
        ])
        #expect(found.map(\.nullable) == [false, false, false, false, false, false, false, true])
        await pool.close()
    }

    @Test func hostileFieldNamesBecomeColumnNames() async throws {
        let pool = try await TestPostgres.makePool()
        try await pool.execute("CREATE TABLE x (id int)")
        let hostile = "\"; DROP TABLE x; --"
        let definition = try TenantDefinitionParser.parse(Array("""
            {"id": "evil", "schema": {"name": "t\\"; DROP TABLE x; --", "fields": [
              {"name": "id", "type": "string"}, {"name": "\\"; DROP TABLE x; --", "type": ["null", "string"]}]},
             "primary_key": ["id"]}
            """.utf8), format: .json).definition
        #expect(definition.schema.fields[1].name == hostile)
        try await create(definition, in: pool)
        let found = try await columns(pool, schema: "evil", table: "t" + hostile)
        #expect(found.map(\.name) == ["id", hostile, "_sluice_source_id", "_sluice_ingested_at"])
        let survivor = try await pool.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'x'")
        #expect(try survivor.first?.text(at: 0) == "1")
        await pool.close()
    }

    private let baseYAML = """
        id: evolving
        schema:
          name: events
          fields:
            - { name: id, type: string }
            - { name: count, type: int }
            - { name: note, type: string }
        primary_key: [id]
        """

    @Test func addingANullableFieldKeepsRows() async throws {
        let pool = try await TestPostgres.makePool()
        let old = try parse(baseYAML)
        try await create(old, in: pool)
        try await pool.execute(
            "INSERT INTO evolving.events (id, count, note, _sluice_source_id) VALUES ($1, $2, $3, $4)",
            ["a", 1, "first", "file-1"])
        let new = try parse(baseYAML.replacingOccurrences(of: "{ name: note, type: string }", with: """
            { name: note, type: ["null", string] }
                - { name: rating, type: ["null", double], default: null }
            """))
        #expect(try TenantStorage.evolution(from: old, to: old) == [])
        let statements = try TenantStorage.evolution(from: old, to: new)
        #expect(statements == [
            #"ALTER TABLE "evolving"."events" ALTER COLUMN "note" DROP NOT NULL"#,
            #"ALTER TABLE "evolving"."events" ADD COLUMN IF NOT EXISTS "rating" double precision"#,
        ])
        try await pool.withTransaction { connection in
            for statement in statements { try connection.execute(statement) }
        }
        let found = try await columns(pool, schema: "evolving", table: "events")
        #expect(found.first { $0.name == "rating" } == Column(name: "rating", type: "double precision", nullable: true))
        #expect(found.first { $0.name == "note" }?.nullable == true)
        let rows = try await pool.query("SELECT id, count, note, rating FROM evolving.events")
        #expect(rows.count == 1)
        #expect(try rows.first?.text("note") == "first")
        #expect(try rows.first?.text("count") == "1")
        #expect(try rows.first?.text("rating") == nil)
        await pool.close()
    }

    @Test func incompatibleChangesAreRefusedWithEveryReason() async throws {
        let pool = try await TestPostgres.makePool()
        let old = try parse(baseYAML)
        try await create(old, in: pool)
        let before = try await columns(pool, schema: "evolving", table: "events")
        let new = try parse("""
            id: evolving
            schema:
              name: events
              fields:
                - { name: id, type: string }
                - { name: count, type: string }
            primary_key: [id]
            """)
        do {
            _ = try TenantStorage.evolution(from: old, to: new)
            Issue.record("expected an incompatible change")
        } catch {
            #expect(error.code == .incompatibleSchemaChange)
            #expect(error.code.rawValue == "incompatible_schema_change")
            #expect(error.problems == [
                "schema.fields[2]: field \"note\" cannot be removed (it is field 2 of the current schema)",
                "schema.fields[1].type: the type of \"count\" cannot change from int to string",
            ])
        }
        #expect(try await columns(pool, schema: "evolving", table: "events") == before)
        await pool.close()
    }

    @Test func otherRefusedChanges() throws {
        let old = try parse(baseYAML)
        let new = try parse("""
            id: evolving
            schema:
              name: renamed
              fields:
                - { name: id, type: string }
                - { name: count, type: int }
                - { name: note, type: string }
                - { name: extra, type: long }
            primary_key: [id, count]
            """)
        #expect(throws: TenantDefinitionError(code: .incompatibleSchemaChange, problems: [
            "schema.name: the table name cannot change from \"events\" to \"renamed\"",
            "primary_key: cannot change from [\"id\"] to [\"id\", \"count\"]",
            "schema.fields[3]: new field \"extra\" must be nullable, as existing rows have no value",
        ])) {
            try TenantStorage.evolution(from: old, to: new)
        }
        let nullableOld = try parse(baseYAML.replacingOccurrences(of: "{ name: note, type: string }", with: "{ name: note, type: [\"null\", string] }"))
        #expect(throws: TenantDefinitionError(code: .incompatibleSchemaChange, problems: [
            "schema.fields[2]: nullable field \"note\" cannot become required",
        ])) {
            try TenantStorage.evolution(from: nullableOld, to: old)
        }
    }
}
