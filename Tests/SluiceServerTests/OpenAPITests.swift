import Foundation
import SluiceTestSupport
import Testing

/// The API described: `GET /api/v1/openapi.json` documents every route SluiceAPI declares (and no other), passes
/// `openapi-spec-validator`, and schemathesis, run against a live `sluice serve` with a tenant's key and then the
/// admin token, finds no 5xx, no undocumented status, content type or body, and no error code where it is not
/// documented.
@Suite struct OpenAPITests {
    private static let tools = SluiceProcess.packageRoot + "/.build/test-tools/bin/"

    /// Method and path of every `Route(.method, "/path", …)` in SluiceAPI's sources.
    private static func declaredRoutes() throws -> Set<String> {
        let folder = SluiceProcess.packageRoot + "/Sources/SluiceAPI/"
        var routes: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".swift") {
            let text = try String(contentsOfFile: folder + name, encoding: .utf8)
            for match in text.matches(of: /Route\(\.(\w+), "([^"]+)"/) { routes.insert("\(match.1) \(match.2)") }
        }
        return routes
    }

    private static func documentedRoutes(_ document: [String: Any]) -> Set<String> {
        var routes: Set<String> = []
        for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for method in item.keys where ["get", "put", "post", "delete", "patch"].contains(method) { routes.insert("\(method) \(path)") }
        }
        return routes
    }

    /// Runs a test tool to its end; its exit status and output.
    private static func run(_ tool: String, _ arguments: [String]) async throws -> (Int32?, String) {
        let process = try TestDaemon(tools + tool, arguments, environment: ["NO_COLOR": "1"],
                                     installedBy: "scripts/install-test-tools")
        try await waitUntil("\(tool) finishes", timeout: .seconds(900), interval: .milliseconds(200)) { !process.isRunning }
        return (process.exitStatus, process.log)
    }

    @Test func everyRouteIsDocumentedAndTheDocumentIsValid() async throws {
        try await InProcessSluice.with { sluice in
            let response = try await sluice.client.get("/api/v1/openapi.json")
            #expect(response.status == 200 && response.header("Content-Type") == "application/json")
            let document = try response.json()
            #expect(document["openapi"] as? String == "3.1.0")
            let declared = try Self.declaredRoutes()
            let documented = Self.documentedRoutes(document)
            #expect(declared.count > 30)
            #expect(declared.subtracting(documented).isEmpty, "not documented: \(declared.subtracting(documented).sorted())")
            #expect(documented.subtracting(declared).isEmpty, "documented but not served: \(documented.subtracting(declared).sorted())")

            let work = try TestPostgres.makeTemporaryDirectory(prefix: "openapi")
            try Data(response.body).write(to: URL(fileURLWithPath: work + "/openapi.json"))
            let (status, output) = try await Self.run("openapi-spec-validator", [work + "/openapi.json"])
            #expect(status == 0, "\(output.suffix(4000))")
            try? FileManager.default.removeItem(atPath: work)
        }
    }

    @Test func schemathesisFindsTheLiveAPIConformingToItsDescription() async throws {
        let work = try TestPostgres.makeTemporaryDirectory(prefix: "schemathesis")
        let sluice = try await SluiceProcess.serving(in: work, adminToken: "schemathesis-admin")
        do {
            let key = try await sluice.createTenant(tenantYAML("api"), adminToken: "schemathesis-admin")
            // Path parameters name the tenant that exists, so operations get past the lookup.
            try """
                [parameters]
                tenant = "api"
                """.write(toFile: work + "/schemathesis.toml", atomically: true, encoding: .utf8)
            let base = "http://127.0.0.1:\(sluice.port)"
            // The tenant's key first: the admin's run may rotate it or delete the tenant.
            for token in [key, "schemathesis-admin"] {
                let (status, output) = try await Self.run("st", [
                    "--config-file", work + "/schemathesis.toml", "run", base + "/api/v1/openapi.json", "--url", base,
                    "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--max-examples", "15", "--workers", "1", "--seed", "1", "--no-color", "--generation-database", "none",
                    "--request-timeout", "30", "-H", "Authorization: Bearer \(token)",
                ])
                #expect(status == 0, "\(token == key ? "tenant key" : "admin token") run:\n\(output.suffix(12000))")
            }
            #expect(try await sluice.terminate() == 0)
        } catch {
            _ = try? await sluice.terminate()
            throw error
        }
        try? FileManager.default.removeItem(atPath: work)
    }
}
