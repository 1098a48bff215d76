import Foundation
import SluiceCore
import SluiceHTTP

/// `/api/v1/tenants/{tenant}/files…`: a tenant's uploads into its staging area and its file ledger.
public struct FileRoutes: Sendable {
    private let uploads: UploadService
    private let ingest: BatchIngestManager
    private let rejects: RejectLog
    private let auth: Authenticator

    public init(uploads: UploadService, ingest: BatchIngestManager, rejects: RejectLog, auth: Authenticator) {
        self.uploads = uploads
        self.ingest = ingest
        self.rejects = rejects
        self.auth = auth
    }

    public var routes: [Route] {
        [
            Route(.post, "/api/v1/tenants/{tenant}/files", .streaming { request, body in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let result = try await uploads.upload(UploadRequest(
                        tenant: tenant,
                        fileName: request.query["name"] ?? Self.dispositionFileName(request.headers["Content-Disposition"]),
                        contentType: request.headers["Content-Type"],
                        contentLength: request.contentLength,
                        force: request.query["force"] == "true"), body: body)
                    return .json(FileBody(file: result.file, duplicate: result.duplicate ? true : nil),
                                 status: result.duplicate ? 200 : 201)
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/files", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let limit = try request.integer("limit", in: 1...1000, default: 100)
                    let state = try request.choice("state", of: FileRecord.states)
                    let before = try request.token("before", "a file id (the next cursor of a listing)", isValid: FileID.isValid)
                    let files = try await uploads.files(tenant: tenant, limit: limit, state: state, before: before)
                    return .json(FileList(files: files.map { FileBody(file: $0, duplicate: nil) },
                                          next: files.count == limit ? files.last?.id : nil))
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/files/{id}", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    return .json(FileBody(file: try await uploads.file(tenant: tenant, id: request.pathParameter("id")),
                                          duplicate: nil))
                }
            }),
            Route(.post, "/api/v1/tenants/{tenant}/files/{id}/replay", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    return .json(FileBody(file: try await ingest.replay(tenant: tenant, fileID: request.pathParameter("id")),
                                          duplicate: nil), status: 202)
                }
            }),
            Route(.get, "/api/v1/tenants/{tenant}/files/{id}/rejects", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    try await auth.requireTenant(request, tenant)
                    let limit = try request.integer("limit", in: 1...1000, default: 100)
                    let after = try request.integer("after", in: 0...Int.max, default: 0)
                    let page = try await rejects.page(tenant: tenant, fileID: request.pathParameter("id"), after: after, limit: limit)
                    return .json(RejectPage(rejects: page, next: page.count == limit ? page.last?.recordNumber : nil))
                }
            }),
        ]
    }

    /// A page of rejected rows; `next` is the `after` cursor of the following page.
    private struct RejectPage: Encodable {
        let rejects: [RejectRecord]
        let next: Int?
    }

    /// A page of files; `next` is the `before` cursor of the following page, when there may be one.
    private struct FileList: Encodable {
        let files: [FileBody]
        let next: String?
    }

    /// A file entry as the API shows it, flat, with `duplicate` only on duplicate uploads.
    private struct FileBody: Encodable {
        let file: FileRecord
        let duplicate: Bool?

        func encode(to encoder: any Encoder) throws {
            try file.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encodeIfPresent(duplicate, forKey: Key(stringValue: "duplicate"))
        }

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
    }

    /// `filename` (or RFC 5987 `filename*`) of a `Content-Disposition` header.
    static func dispositionFileName(_ header: String?) -> String? {
        guard let header else { return nil }
        for parameter in header.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if parameter.lowercased().hasPrefix("filename*=") {
                let value = parameter.dropFirst("filename*=".count)
                if let quote = value.range(of: "''") { return String(value[quote.upperBound...]).removingPercentEncoding }
            } else if parameter.lowercased().hasPrefix("filename=") {
                return String(parameter.dropFirst("filename=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }
}
