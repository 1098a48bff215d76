import SluiceCore
import SluiceHTTP

/// A tenant's records read back (the tenant's key, or the admin token): a page as JSON, or with `format=ndjson` or
/// `format=csv` every matching record, streamed.
public struct RecordRoutes: Sendable {
    private let records: TenantRecords
    private let auth: Authenticator

    public init(records: TenantRecords, auth: Authenticator) {
        self.records = records
        self.auth = auth
    }

    public var routes: [Route] {
        [
            Route(.get, "/api/v1/tenants/{tenant}/records", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let format = try request.choice("format", of: ["json"] + TenantRecords.ExportFormat.allCases.map(\.rawValue))
                    let prepared = try await records.prepare(tenant: tenant, parameters: request.query.items)
                    guard let export = format.flatMap(TenantRecords.ExportFormat.init(rawValue:)) else {
                        return HTTPResponse(status: 200, headers: ["Content-Type": "application/json"], body: try await records.page(prepared).json)
                    }
                    let produce = try await records.export(prepared, format: export)
                    let type = export == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson"
                    return .streaming(headers: ["Content-Type": type,
                                                "Content-Disposition": "attachment; filename=\"\(tenant)-records.\(export.rawValue)\""]) { writer in
                        // The producer runs on a task of its own: it is client work too (never the service's reserved connections).
                        try await asClientWork { try await produce { try await writer.write($0) } }
                    }
                }
            }),
        ]
    }
}
