/// What runs when a route matches.
public enum HTTPHandler: Sendable {
    /// Runs directly on the transport's worker thread. Only for cheap work that never blocks
    /// (no I/O, no locks held for long): health probes, cached metrics snapshots.
    case immediate(@Sendable (HTTPRequest) -> HTTPResponse)
    /// Runs as a task and may consume the request body as a stream of chunks.
    case streaming(@Sendable (HTTPRequest, HTTPRequestBody) async throws -> HTTPResponse)
}

/// A method and a path template such as `/api/v1/tenants/{tenant}/files/{id}`, with its handler.
public struct Route: Sendable {
    public let method: HTTPMethod
    public let template: String
    public let handler: HTTPHandler

    public init(_ method: HTTPMethod, _ template: String, _ handler: HTTPHandler) {
        precondition(template.hasPrefix("/"), "route template must start with '/': \(template)")
        self.method = method
        self.template = template
        self.handler = handler
    }
}
