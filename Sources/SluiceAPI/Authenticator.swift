import SluiceCore
import SluiceHTTP

/// Checks `Authorization: Bearer …`: the admin token for platform operations, a tenant's API key for
/// its own resources. A valid key of another tenant gets the same 404 as a tenant that does not
/// exist, so keys never reveal which tenants exist.
public struct Authenticator: Sendable {
    private let adminToken: String
    private let tenants: TenantService

    public init(adminToken: String, tenants: TenantService) {
        self.adminToken = adminToken
        self.tenants = tenants
    }

    /// Succeeds for the admin token only.
    func requireAdmin(_ request: HTTPRequest) throws {
        guard let token = Self.bearer(request) else { throw Self.missing }
        guard APIKey.constantTimeEquals(token, adminToken) else {
            throw HTTPError(status: 403, code: "forbidden", message: "this operation needs the admin token")
        }
    }

    /// Succeeds for the admin token (for a tenant that exists) or a key of `tenant`.
    func requireTenant(_ request: HTTPRequest, _ tenant: String) async throws {
        guard let token = Self.bearer(request) else { throw Self.missing }
        if APIKey.constantTimeEquals(token, adminToken) {
            _ = try await tenants.get(tenant)
            return
        }
        guard let owner = try await tenants.tenant(forKey: token) else {
            throw HTTPError(status: 401, code: "invalid_api_key", message: "the API key is not valid",
                            headers: ["WWW-Authenticate": "Bearer"])
        }
        guard owner == tenant else { throw ServiceError.tenantNotFound(tenant).httpError }
    }

    private static let missing = HTTPError(status: 401, code: "unauthorized",
                                           message: "send Authorization: Bearer <API key or admin token>",
                                           headers: ["WWW-Authenticate": "Bearer"])

    private static func bearer(_ request: HTTPRequest) -> String? {
        guard let header = request.headers["Authorization"] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

import Foundation
