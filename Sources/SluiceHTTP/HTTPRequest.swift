/// The head of an HTTP request as a handler sees it; the body arrives separately as a stream.
public struct HTTPRequest: Sendable {
    public let method: HTTPMethod
    /// The decoded request path, without the query string.
    public let path: String
    /// The matched route's template, e.g. `/api/v1/tenants/{tenant}/files` (used as a metric label).
    public let routeTemplate: String
    /// Values of the route's `{parameters}`.
    public let pathParameters: [String: String]
    /// Decoded query parameters in request order.
    public let query: QueryParameters
    public let headers: HTTPHeaders
    /// The peer's IP address, when known.
    public let remoteAddress: String?

    public init(method: HTTPMethod, path: String, routeTemplate: String, pathParameters: [String: String],
                query: QueryParameters, headers: HTTPHeaders, remoteAddress: String?) {
        self.method = method
        self.path = path
        self.routeTemplate = routeTemplate
        self.pathParameters = pathParameters
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
    }

    /// The `Content-Length` the client declared, if any.
    public var contentLength: Int? { headers["Content-Length"].flatMap { Int($0) } }

    /// A path parameter the route guarantees to exist.
    public func pathParameter(_ name: String) -> String { pathParameters[name] ?? "" }
}

/// Decoded query parameters, in request order.
public struct QueryParameters: Sendable {
    public private(set) var items: [(name: String, value: String)]

    public init(_ items: [(name: String, value: String)] = []) { self.items = items }

    /// The first value of the named parameter.
    public subscript(name: String) -> String? { items.first { $0.name == name }?.value }
}
