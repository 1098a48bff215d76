/// Matches request paths against route templates.
///
/// Literal segments take precedence over `{parameter}` segments, so `/files/summary` wins over
/// `/files/{id}` regardless of registration order.
public struct Router: Sendable {
    /// The outcome of matching a method and a path.
    public enum Match: Sendable {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(allowed: [HTTPMethod])
        case notFound
    }

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private struct CompiledRoute: Sendable {
        let route: Route
        let segments: [Segment]
    }

    private var routes: [CompiledRoute] = []

    public init(_ routes: [Route] = []) {
        for route in routes { add(route) }
    }

    /// Adds a route; a second route with the same method and template is a programming error.
    public mutating func add(_ route: Route) {
        let segments = Self.split(route.template).map { segment -> Segment in
            if segment.hasPrefix("{") && segment.hasSuffix("}") {
                return .parameter(String(segment.dropFirst().dropLast()))
            }
            return .literal(String(segment))
        }
        precondition(!routes.contains { $0.route.method == route.method && $0.segments == segments },
                     "duplicate route \(route.method) \(route.template)")
        routes.append(CompiledRoute(route: route, segments: segments))
        // Literal segments sort before parameters so the most specific template matches first.
        routes.sort { lhs, rhs in
            for (left, right) in zip(lhs.segments, rhs.segments) where left != right {
                switch (left, right) {
                case (.literal, .parameter): return true
                case (.parameter, .literal): return false
                default: continue
                }
            }
            return false
        }
    }

    /// Finds the route for `method` and `path`; `HEAD` falls back to `GET`.
    public func match(method: HTTPMethod, path: String) -> Match {
        let segments = Self.split(path)
        var allowed: [HTTPMethod] = []
        var fallback: (Route, [String: String])?
        for compiled in routes {
            guard let parameters = Self.bind(compiled.segments, to: segments) else { continue }
            if compiled.route.method == method { return .found(compiled.route, parameters: parameters) }
            if method == .head && compiled.route.method == .get && fallback == nil {
                fallback = (compiled.route, parameters)
            }
            if !allowed.contains(compiled.route.method) { allowed.append(compiled.route.method) }
        }
        if let (route, parameters) = fallback { return .found(route, parameters: parameters) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    private static func bind(_ template: [Segment], to segments: [Substring]) -> [String: String]? {
        guard template.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, actual) in zip(template, segments) {
            switch expected {
            case .literal(let literal):
                guard literal == actual else { return nil }
            case .parameter(let name):
                guard !actual.isEmpty else { return nil }
                parameters[name] = String(actual)
            }
        }
        return parameters
    }

    private static func split(_ path: String) -> [Substring] {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if segments.last == "" && segments.count > 1 { segments = segments.dropLast() }  // tolerate one trailing slash
        return Array(segments)
    }
}
