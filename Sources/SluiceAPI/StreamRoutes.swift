import Foundation
import SluiceCore
import SluiceHTTP

/// The stream API: `POST /api/v1/tenants/{tenant}/stream` (the tenant's messages, answered once committed),
/// the tenant's stream instances, and the stream manager's actions and their log.
public struct StreamRoutes: Sendable {
    private let manager: StreamManager
    private let rejects: RejectLog
    private let auth: Authenticator

    public init(manager: StreamManager, rejects: RejectLog, auth: Authenticator) {
        self.manager = manager
        self.rejects = rejects
        self.auth = auth
    }

    public var routes: [Route] {
        [
            Route(.post, "/api/v1/tenants/{tenant}/stream", .streaming { request, body in
                let started = ContinuousClock.now
                let tenant = request.pathParameter("tenant")
                var authorized = false
                let response = try await answering {
                    try await auth.requireTenant(request, tenant)
                    authorized = true
                    guard let format = StreamPayload.Format(contentType: request.headers["Content-Type"]) else {
                        throw ServiceError(.unsupportedType, "unsupported_media_type",
                                           "the stream takes application/x-ndjson, application/json or text/csv")
                    }
                    // The body counts against the process's stream memory budget until the request is answered.
                    var held = 0
                    defer { manager.releaseRequestBytes(held) }
                    let bytes = try await Self.read(body, request: request, manager: manager, tenant: tenant, held: &held)
                    let answer = try await manager.ingest(tenant: tenant, body: bytes, format: format,
                                                          idempotencyKey: request.headers["Idempotency-Key"])
                    return .json(answer)
                }
                // Answers to requests without the tenant's key are not the tenant's to count.
                if authorized { manager.answered(tenant: tenant, status: response.status, seconds: started.duration(to: .now).secondsValue) }
                return response
            }),
            Route(.get, "/api/v1/tenants/{tenant}/stream/batches/{id}/rejects", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let limit = try request.integer("limit", in: 1...1000, default: 100)
                    let after = try request.integer("after", in: 0...Int.max, default: 0)
                    let page = try await rejects.page(tenant: tenant, batchID: request.pathParameter("id"), after: after, limit: limit)
                    return .json(RejectPage(rejects: page, next: page.count == limit ? page.last?.recordNumber : nil))
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/stream/instances", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    return .json(try await manager.instances(tenant: tenant))
                }
            }),
            Route(.put, "/api/v1/tenants/{tenant}/stream/instances", .streaming { request, body in
                try await answering {
                    try auth.requireAdmin(request)
                    let desired = try await Self.decode(DesiredBody.self, from: body).desired
                    let record = try await manager.apply(.setDesired(desired), tenant: request.pathParameter("tenant"), source: "api")
                    try Self.refuseRejected(record)
                    return .json(record.state)
                }
            }),
            Route(.post, "/api/v1/tenants/{tenant}/stream/actions", .streaming { request, body in
                try await answering {
                    try auth.requireAdmin(request)
                    let object = try await Self.decode([String: ActionValue].self, from: body)
                    guard case .name(let name)? = object["action"] else {
                        throw ServiceError(.invalid, "invalid_action", "the body needs \"action\": a string")
                    }
                    var parameters: [String: Double] = [:]
                    for (key, value) in object where key != "action" {
                        guard case .number(let number) = value else {
                            throw ServiceError(.invalid, "invalid_action", "\"\(key)\" must be a number")
                        }
                        parameters[key] = number
                    }
                    let record = try await manager.apply(try StreamAction(name: name, parameters: parameters),
                                                         tenant: request.pathParameter("tenant"), source: "api")
                    try Self.refuseRejected(record)
                    return .json(record)
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/stream/actions", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let limit = try request.integer("limit", in: 1...1000, default: 100)
                    return .json(["actions": try await manager.actions(tenant: tenant, limit: limit)])
                }
            }),
            Route(.get, "/api/v1/stream/actions", .streaming { request, _ in
                try await answering {
                    try auth.requireAdmin(request)
                    let limit = try request.integer("limit", in: 1...1000, default: 100)
                    return .json(["actions": try await manager.actions(tenant: request.query["tenant"], limit: limit)])
                }
            }),
        ]
    }

    /// The body, inflated if gzip'd, within the stream's request limits.
    private static func read(_ body: HTTPRequestBody, request: HTTPRequest, manager: StreamManager, tenant: String,
                             held: inout Int) async throws -> [UInt8] {
        let configuration = manager.configuration
        let encoding = request.headers["Content-Encoding"]?.trimmingCharacters(in: .whitespaces).lowercased()
        guard encoding == nil || encoding == "identity" || encoding == "gzip" || encoding == "x-gzip" else {
            throw ServiceError(.unsupportedType, "unsupported_encoding", "Content-Encoding must be gzip or identity")
        }
        if let length = request.contentLength, length > configuration.maximumRequestBytes {
            throw ServiceError(.tooLarge, "request_too_large", "the request holds more than \(configuration.maximumRequestBytes) bytes")
        }
        var reader = try StreamPayload.Reader(gzip: encoding == "gzip" || encoding == "x-gzip",
                                              limit: configuration.maximumRequestBytes, maximumRatio: configuration.maximumInflationRatio)
        for try await chunk in body {
            try reader.append(chunk)
            try manager.reserveRequestBytes(reader.count - held, tenant: tenant)
            held = reader.count
        }
        return try reader.finish()
    }

    /// An action that was refused is `422 out_of_bounds` (it is in the log all the same).
    private static func refuseRejected(_ record: StreamActionRecord) throws {
        guard record.outcome == "rejected" else { return }
        throw ServiceError(.unprocessable, "out_of_bounds", record.message ?? "the action is outside the tenant's bounds")
    }

    private static let maximumBodyBytes = 4096

    private static func decode<T: Decodable>(_ type: T.Type, from body: HTTPRequestBody) async throws -> T {
        let bytes = try await body.collect(upTo: maximumBodyBytes)
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw ServiceError(.invalid, "malformed_body", "the body is not the JSON object expected")
        }
    }

    /// A page of rejected messages; `next` is the `after` cursor of the following page.
    private struct RejectPage: Encodable {
        let rejects: [RejectRecord]
        let next: Int?
    }

    private struct DesiredBody: Decodable {
        let desired: Int
    }

    /// A member of an action's body: the action's name, or a numeric parameter.
    private enum ActionValue: Decodable {
        case name(String), number(Double)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else {
                self = .name(try container.decode(String.self))
            }
        }
    }
}
