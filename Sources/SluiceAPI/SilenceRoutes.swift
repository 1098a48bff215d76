import Foundation
import SluiceCore
import SluiceHTTP

/// Silences (admin): `POST /api/v1/silences` creates one, `GET` lists them (expired ones too, as history),
/// `DELETE /api/v1/silences/{id}` ends one now.
public struct SilenceRoutes: Sendable {
    private let silences: SilenceStore
    private let auth: Authenticator

    public init(silences: SilenceStore, auth: Authenticator) {
        self.silences = silences
        self.auth = auth
    }

    /// `{"matchers": ["tenant=\"a\"", …], "starts_at"?, "ends_at", "comment", "created_by"?}`.
    private struct Body: Decodable {
        let matchers: [String]
        let startsAt: Date?
        let endsAt: Date
        let comment: String
        let createdBy: String?

        enum CodingKeys: String, CodingKey {
            case matchers, comment
            case startsAt = "starts_at", endsAt = "ends_at", createdBy = "created_by"
        }
    }

    public var routes: [Route] {
        [
            Route(.post, "/api/v1/silences", .streaming { request, body in
                try await answering {
                    try auth.requireAdmin(request)
                    let decoder = JSONDecoder()
                    decoder.dateDecodingStrategy = .iso8601
                    let parsed: Body
                    do {
                        parsed = try decoder.decode(Body.self, from: Data(try await body.collect(upTo: 64 << 10)))
                    } catch {
                        throw ServiceError(.invalid, "invalid_silence",
                                           "the body must be {\"matchers\": [\"tenant=\\\"a\\\"\"], \"ends_at\": \"2026-12-07T00:00:00Z\", \"comment\": \"why\"}")
                    }
                    let window = ReportRoutes.earliest...ReportRoutes.latest
                    guard parsed.startsAt.map(window.contains) ?? true, window.contains(parsed.endsAt) else {
                        throw ServiceError(.invalid, "invalid_silence", "starts_at and ends_at must be times from 1583 to 9999")
                    }
                    let silence = try await silences.create(matchers: parsed.matchers, startsAt: parsed.startsAt, endsAt: parsed.endsAt,
                                                            comment: parsed.comment, createdBy: parsed.createdBy ?? "admin")
                    return .json(silence, status: 201)
                }
            }),
            Route(.get, "/api/v1/silences", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let active = try request.choice("state", of: ["active"]) != nil
                    return .json(["silences": try await silences.list(activeAt: active ? Date() : nil)])
                }
            }),
            Route(.delete, "/api/v1/silences/{id}", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    try await silences.expire(request.pathParameter("id"))
                    return .json(["expired": request.pathParameter("id")])
                }
            }),
        ]
    }
}
