import Foundation
import SluiceCore
import SluiceHTTP

/// `/api/v1/tenants…`: tenant administration (admin token) and reading a tenant (admin or its key).
public struct TenantRoutes: Sendable {
    /// Tenant definitions are small; anything larger is refused before parsing.
    static let maximumDefinitionBytes = 1 << 20

    private let tenants: TenantService
    private let ingest: BatchIngestManager
    private let stream: StreamManager
    private let auth: Authenticator

    public init(tenants: TenantService, ingest: BatchIngestManager, stream: StreamManager, auth: Authenticator) {
        self.tenants = tenants
        self.ingest = ingest
        self.stream = stream
        self.auth = auth
    }

    public var routes: [Route] {
        [
            Route(.post, "/api/v1/tenants", .streaming { request, body in
                try await answering {
                    try auth.requireAdmin(request)
                    let created = try await tenants.create(try await parse(request, body))
                    stream.defined(created.tenant.definition)
                    return .json(Created(tenant: created.tenant, apiKey: created.apiKey,
                                         warnings: created.warnings), status: 201)
                }
            }),
            Route(.get, "/api/v1/tenants", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    return .json(["tenants": try await tenants.list()])
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}", .streaming { request, _ in
                try await answering {
                    let id = request.pathParameter("tenant")
                    try await auth.requireTenant(request, id)
                    return .json(["tenant": try await tenants.get(id)])
                }
            }),
            Route(.put, "/api/v1/tenants/{tenant}", .streaming { request, body in
                try await answering {
                    try auth.requireAdmin(request)
                    let parsed = try await parse(request, body)
                    let id = request.pathParameter("tenant")
                    guard parsed.definition.id == id else {
                        throw HTTPError.badRequest("tenant_id_mismatch",
                                                   "the definition's id \"\(parsed.definition.id)\" differs from the path's \"\(id)\"")
                    }
                    let replaced = try await tenants.replace(parsed)
                    stream.defined(replaced.definition)
                    return .json(["tenant": replaced])
                }
            }),
            Route(.delete, "/api/v1/tenants/{tenant}", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let id = request.pathParameter("tenant")
                    guard request.query["confirm"] == id else {
                        throw HTTPError.badRequest("confirmation_required",
                                                   "deleting a tenant removes its table, files and reports: repeat its id as ?confirm=\(id)")
                    }
                    try await tenants.delete(id, stopLocalWork: { tenant in
                        ingest.stopFollowingUploads(of: tenant)
                        stream.forget(tenant: tenant)
                    })
                    return .json(["deleted": id])
                }
            }),
            Route(.post, "/api/v1/tenants/{tenant}/api-keys", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let id = request.pathParameter("tenant")
                    return .json(["tenant": id, "api_key": try await tenants.rotateKey(id)], status: 201)
                }
            }),
        ]
    }

    private struct Created: Encodable {
        let tenant: TenantRecord
        let apiKey: String
        let warnings: [String]

        enum CodingKeys: String, CodingKey {
            case tenant, warnings
            case apiKey = "api_key"
        }
    }

    /// A definition from a JSON (default) or YAML body.
    private func parse(_ request: HTTPRequest, _ body: HTTPRequestBody) async throws -> ParsedTenantDefinition {
        let bytes = try await body.collect(upTo: Self.maximumDefinitionBytes)
        let format = request.headers["Content-Type"].flatMap(TenantDefinitionParser.format(forContentType:)) ?? .json
        do {
            return try TenantDefinitionParser.parse(bytes, format: format)
        } catch {
            throw HTTPError(status: 422, code: error.code.rawValue, message: "the tenant definition is invalid (\(error.problems.count) problems)",
                            details: error.problems)
        }
    }
}
