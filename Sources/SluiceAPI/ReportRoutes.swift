import Foundation
import SluiceCore
import SluiceHTTP

/// Ingestion reports: a tenant's own (`…/tenants/{tenant}/reports`) and per-tenant totals for operators.
public struct ReportRoutes: Sendable {
    private let reports: IngestionReports
    private let auth: Authenticator

    public init(reports: IngestionReports, auth: Authenticator) {
        self.reports = reports
        self.auth = auth
    }

    public var routes: [Route] {
        [
            Route(.get, "/api/v1/tenants/{tenant}/reports", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let (from, to) = try Self.window(request)
                    let limit = try request.integer("limit", in: 1...1000, default: 100)
                    return .json(["reports": try await reports.list(tenant: tenant, from: from, to: to, limit: limit)])
                }
            }),
            Route(.get, "/api/v1/reports/summary", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let (from, to) = try Self.window(request)
                    return .json(["tenants": try await reports.summary(from: from, to: to)])
                }
            }),
        ]
    }

    /// The times a window may name: PostgreSQL's `timestamptz` goes from 4713 BC, but years before 1 (and
    /// the calendar change before 1583) do not survive the round trip; nothing Sluice stores is older.
    static let earliest = Date(timeIntervalSince1970: -12_212_553_600)  // 1583-01-01T00:00:00Z
    static let latest = Date(timeIntervalSince1970: 253_402_300_799)  // 9999-12-31T23:59:59Z

    /// `from` and `to` as ISO-8601 times between 1583 and 9999; the last 24 hours by default.
    static func window(_ request: HTTPRequest) throws -> (Date, Date) {
        func parse(_ name: String) throws -> Date? {
            guard let text = request.query[name] else { return nil }
            guard let date = try? Date(text, strategy: .iso8601), (earliest...latest).contains(date) else {
                throw HTTPError.badRequest("invalid_time",
                                           "\(name) must be an ISO-8601 time from 1583 to 9999, such as 2026-11-21T00:00:00Z")
            }
            return date
        }
        let to = try parse("to") ?? Date()
        let from = try parse("from") ?? to.addingTimeInterval(-86_400)
        return (from, to)
    }
}
