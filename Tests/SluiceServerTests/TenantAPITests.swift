import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

/// The tenant administration API against a real service and PostgreSQL.
@Suite struct TenantAPITests {
    static let admin = InProcessSluice.adminToken
    static let yaml = "application/yaml"

    /// A 2 KB YAML alias bomb answers 422 at once, and the service stays ready (it grew to 14 GB before).
    @Test func aYAMLAliasBombIsRefusedAtOnce() async throws {
        try await InProcessSluice.with { sluice in
            var yaml = "id: bomb\nx:\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
            let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
            for (previous, name) in zip(names, names.dropFirst()) {
                yaml += "  \(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
            }
            let response = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin,
                                                 headers: [("Content-Type", Self.yaml)], body: .bytes(Array(yaml.utf8)))
            #expect(response.status == 422, "\(response.text.prefix(300))")
            #expect(response.errorCode == "invalid_tenant_definition")
            #expect(response.text.count < 2_000, "one problem, not the expansion")
            #expect(try await sluice.client.get("/readyz").status == 200)
        }
    }

    /// Times outside what the store keeps answer 400 invalid_time (year 1 answered 500 before).
    @Test func reportWindowsOutOfRangeAreRefused() async throws {
        try await InProcessSluice.with { sluice in
            for query in ["from=0001-01-01T00:00:00Z", "to=10000-01-01T00:00:00Z", "from=yesterday"] {
                let response = try await sluice.send("GET", "/api/v1/reports/summary?\(query)", token: Self.admin)
                #expect(response.status == 400, "\(query): \(response.text)")
                #expect(response.errorCode == "invalid_time")
            }
            #expect(try await sluice.send("GET", "/api/v1/reports/summary?from=2026-01-01T00:00:00Z", token: Self.admin).status == 200)
        }
    }

    /// Parameters that are present but wrong are named in a 400, never ignored; missing things are 404s.
    @Test func badParametersAndMissingThingsAnswerClearly() async throws {
        try await InProcessSluice.with { sluice in
            let key = try await sluice.createTenant(tenantYAML("params"), contentType: Self.yaml)
            for query in ["limit=-1", "limit=abc", "limit=1001", "state=done", "before=../x"] {
                let response = try await sluice.send("GET", "/api/v1/tenants/params/files?\(query)", token: key)
                #expect(response.status == 400, "\(query): \(response.text)")
                #expect(response.errorCode == "invalid_parameter")
                let name = String(query.prefix { $0 != "=" })
                #expect(response.text.contains(name), "the answer names \(name): \(response.text)")
            }
            #expect(try await sluice.send("GET", "/api/v1/tenants/params/files/f1/rejects?after=-3", token: key).errorCode
                    == "invalid_parameter")
            #expect(try await sluice.send("GET", "/api/v1/tenants/params/reports?limit=0", token: key).errorCode == "invalid_parameter")
            #expect(try await sluice.send("GET", "/api/v1/tenants/params/files?limit=5&state=queued", token: key).status == 200)

            let missing = try await sluice.send("GET", "/api/v1/tenants/nobody/files", token: Self.admin)
            #expect(missing.status == 404 && missing.errorCode == "tenant_not_found", "\(missing.text)")
            let replay = try await sluice.send("POST", "/api/v1/tenants/params/files/f0000000000000000000000000/replay", token: key)
            #expect(replay.status == 404 && replay.errorCode == "file_not_found", "\(replay.text)")
        }
    }

    @Test func createGetListReplaceRotateAndDelete() async throws {
        try await InProcessSluice.with { sluice in
            let created = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin, headers: [("Content-Type", Self.yaml)],
                                                body: .bytes(Array(tenantYAML("acme").utf8)))
            #expect(created.status == 201)
            let body = try created.json()
            let key = try #require(body["api_key"] as? String)
            #expect((body["tenant"] as? [String: Any])?["id"] as? String == "acme")

            // Provisioned: schema "acme", table "readings", typed columns, lineage, primary key.
            let connection = try PostgresConnection(connectionString: sluice.databaseURL)
            defer { connection.close() }
            let columns = try connection.query("""
                SELECT column_name, data_type, is_nullable FROM information_schema.columns
                WHERE table_schema = 'acme' AND table_name = 'readings' ORDER BY ordinal_position
                """).map { (try $0.decode(String.self, "column_name") ?? "", try $0.decode(String.self, "data_type") ?? "",
                            try $0.decode(String.self, "is_nullable") ?? "") }
            #expect(columns.map(\.0).prefix(4) == ["sensor", "at", "value", "note"])
            #expect(columns.contains { $0.0 == "at" && $0.1 == "timestamp with time zone" && $0.2 == "NO" })
            #expect(columns.contains { $0.0 == "note" && $0.2 == "YES" })
            #expect(columns.contains { $0.0 == "_sluice_source_id" })
            // Only the hash of the key is stored.
            let stored = try connection.query("SELECT key_hash FROM sluice.api_keys WHERE tenant_id = 'acme'")
            #expect(stored.count == 1)
            #expect(try stored.first?.decode(String.self, "key_hash") != key)

            let fetched = try await sluice.send("GET", "/api/v1/tenants/acme", token: key)
            #expect(fetched.status == 200)
            let listed = try await sluice.send("GET", "/api/v1/tenants", token: Self.admin)
            #expect((try listed.json()["tenants"] as? [[String: Any]])?.count == 1)
            #expect(try await sluice.send("GET", "/api/v1/tenants", token: key).status == 403)

            // A compatible change (a new nullable field) is applied in place.
            let evolved = tenantYAML("acme").replacingOccurrences(
                of: "    - {name: note, type: [\"null\", string], default: null}",
                with: "    - {name: note, type: [\"null\", string], default: null}\n    - {name: site, type: [\"null\", string]}")
            let replaced = try await sluice.send("PUT", "/api/v1/tenants/acme", token: Self.admin,
                                                 headers: [("Content-Type", Self.yaml)], body: .bytes(Array(evolved.utf8)))
            #expect(replaced.status == 200, "\(replaced.text)")
            #expect(try !connection.query("""
                SELECT 1 FROM information_schema.columns WHERE table_schema = 'acme' AND table_name = 'readings' AND column_name = 'site'
                """).isEmpty)

            // An incompatible change is refused with every reason, and nothing changes.
            let incompatible = tenantYAML("acme").replacingOccurrences(of: "{name: value, type: double}", with: "{name: value, type: string}")
                .replacingOccurrences(of: "    - {name: note, type: [\"null\", string], default: null}\n", with: "")
            let refused = try await sluice.send("PUT", "/api/v1/tenants/acme", token: Self.admin,
                                                headers: [("Content-Type", Self.yaml)], body: .bytes(Array(incompatible.utf8)))
            #expect(refused.status == 409)
            #expect(refused.errorCode == "incompatible_schema_change")
            let details = (try refused.json()["error"] as? [String: Any])?["details"] as? [String] ?? []
            #expect(details.count >= 2, "\(details)")
            #expect(try connection.query("""
                SELECT data_type FROM information_schema.columns WHERE table_schema = 'acme' AND table_name = 'readings' AND column_name = 'value'
                """).first?.decode(String.self, "data_type") == "double precision")

            // Rotation: the old key stops working at once.
            let rotated = try await sluice.send("POST", "/api/v1/tenants/acme/api-keys", token: Self.admin)
            #expect(rotated.status == 201)
            let newKey = try #require(try rotated.json()["api_key"] as? String)
            #expect(try await sluice.send("GET", "/api/v1/tenants/acme", token: key).status == 401)
            #expect(try await sluice.send("GET", "/api/v1/tenants/acme", token: newKey).status == 200)

            // Delete needs an explicit confirmation, then removes table, ledger, keys and staging.
            let unconfirmed = try await sluice.send("DELETE", "/api/v1/tenants/acme", token: Self.admin)
            #expect(unconfirmed.status == 400)
            #expect(unconfirmed.errorCode == "confirmation_required")
            #expect(try await sluice.send("DELETE", "/api/v1/tenants/acme?confirm=acme", token: Self.admin).status == 200)
            #expect(try connection.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'acme'").isEmpty)
            #expect(try connection.query("SELECT 1 FROM sluice.api_keys").isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(sluice.dataDirectory)/staging/acme"))
            #expect(try await sluice.send("GET", "/api/v1/tenants/acme", token: Self.admin).status == 404)
        }
    }

    @Test func backgroundDocumentConfigurationsLoadUnchanged() async throws {
        try await InProcessSluice.with { sluice in
            for (file, id, table) in [("client_a", "client_a", "analytics"), ("client_b", "client_b", "product_reviews")] {
                let json = try String(contentsOfFile: "examples/seeds/\(file).json", encoding: .utf8)
                let response = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin,
                                                     headers: [("Content-Type", "application/json")], body: .bytes(Array(json.utf8)))
                #expect(response.status == 201, "\(response.text)")
                let tenant = try #require(try response.json()["tenant"] as? [String: Any])
                #expect(tenant["id"] as? String == id)
                let connection = try PostgresConnection(connectionString: sluice.databaseURL)
                defer { connection.close() }
                #expect(try !connection.query("SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
                                              [.init(id), .init(table)]).isEmpty)
            }
        }
    }

    @Test func configurationDirectoryDefinesTheExampleTenants() async throws {
        try await InProcessSluice.with(configDirectory: "examples") { sluice in
            let listed = try await sluice.send("GET", "/api/v1/tenants", token: Self.admin)
            let tenants = try #require(try listed.json()["tenants"] as? [[String: Any]])
            #expect(tenants.compactMap { $0["id"] as? String } == ["tenant-a", "tenant-b", "tenant-c", "tenant-d"])
            #expect(tenants.allSatisfy { ($0["source"] as? String)?.hasPrefix("config:") == true })
            let connection = try PostgresConnection(connectionString: sluice.databaseURL)
            defer { connection.close() }
            let key = try connection.query("""
                SELECT string_agg(column_name, ',' ORDER BY ordinal_position) AS key FROM information_schema.key_column_usage
                WHERE table_schema = 'tenant-a' AND table_name = 'analytics'
                """).first?.decode(String.self, "key")
            #expect(key == "PROVINCECODE,DEVICEID,ONUID,TIME")
        }
    }

    @Test func invalidDefinitionsListEveryProblemAndApplyNothing() async throws {
        try await InProcessSluice.with { sluice in
            let broken = """
                id: Not A Slug
                schema:
                  type: record
                  name: t
                  fields:
                    - {name: a, type: string}
                    - {name: b, type: string}
                    - {name: c, type: string}
                    - {name: d, type: integer}
                primary_key: [a, missing]
                """
            let response = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin,
                                                 headers: [("Content-Type", Self.yaml)], body: .bytes(Array(broken.utf8)))
            #expect(response.status == 422)
            #expect(response.errorCode == "invalid_tenant_definition")
            let details = (try response.json()["error"] as? [String: Any])?["details"] as? [String] ?? []
            #expect(details.contains("schema.fields[3].type: unknown type \"integer\""), "\(details)")
            #expect(details.contains { $0.hasPrefix("id:") })
            #expect(details.contains { $0.hasPrefix("primary_key[1]") })
            let listed = try await sluice.send("GET", "/api/v1/tenants", token: Self.admin)
            #expect((try listed.json()["tenants"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func hostileFieldNameIsJustAColumn() async throws {
        try await InProcessSluice.with { sluice in
            let connection = try PostgresConnection(connectionString: sluice.databaseURL)
            defer { connection.close() }
            _ = try connection.execute("CREATE TABLE public.x (id int)")
            let definition = """
                {"id": "hostile", "name": "Hostile", "file_types": ["csv"],
                 "schema": {"type": "record", "name": "t", "fields": [
                    {"name": "id", "type": "string"}, {"name": "\\"; DROP TABLE x; --", "type": ["null", "string"]}]},
                 "primary_key": ["id"]}
                """
            _ = try await sluice.createTenant(definition)
            #expect(try !connection.query("""
                SELECT 1 FROM information_schema.columns WHERE table_schema = 'hostile' AND column_name = $1
                """, [.init("\"; DROP TABLE x; --")]).isEmpty)
            #expect(try !connection.query("SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'x'").isEmpty)
        }
    }

    @Test func adminEndpointsNeedTheAdminToken() async throws {
        try await InProcessSluice.with { sluice in
            let anonymous = try await sluice.send("GET", "/api/v1/tenants", token: nil)
            #expect(anonymous.status == 401)
            #expect(anonymous.errorCode == "unauthorized")
            #expect(try await sluice.send("GET", "/api/v1/tenants", token: "wrong").status == 403)
            let duplicate = tenantYAML("dup")
            _ = try await sluice.createTenant(duplicate, contentType: Self.yaml)
            let again = try await sluice.send("POST", "/api/v1/tenants", token: Self.admin, headers: [("Content-Type", Self.yaml)],
                                              body: .bytes(Array(duplicate.utf8)))
            #expect(again.status == 409)
            #expect(again.errorCode == "tenant_exists")
        }
    }
}
