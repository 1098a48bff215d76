import SluiceTestSupport

extension SluiceProcess {
    /// `sluice serve` on a database of its own, its state under `work`, with `adminToken`; ready to answer.
    static func serving(in work: String, adminToken: String) async throws -> SluiceProcess {
        let sluice = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(), "--data-dir", work + "/data"],
                                       environment: ["SLUICE_ADMIN_TOKEN": adminToken])
        do {
            try await sluice.waitUntilReady()
        } catch {
            _ = try? await sluice.terminate()
            throw error
        }
        return sluice
    }

    /// Creates a tenant from a YAML `definition` with the admin token; returns its API key.
    func createTenant(_ definition: String, adminToken: String) async throws -> String {
        try await client.createTenant(definition, contentType: "application/yaml", adminToken: adminToken)
    }
}

extension TestHTTPClient {
    /// Creates a tenant from a JSON or YAML definition with the admin token; returns its API key.
    func createTenant(_ definition: String, contentType: String, adminToken: String) async throws -> String {
        let created = try await send("POST", "/api/v1/tenants", headers: [("Authorization", "Bearer \(adminToken)"),
                                     ("Content-Type", contentType)], body: .bytes(Array(definition.utf8)))
        guard created.status == 201, let key = try created.json()["api_key"] as? String else {
            throw TestClientError("creating the tenant failed: \(created.status) \(created.text)")
        }
        return key
    }
}
