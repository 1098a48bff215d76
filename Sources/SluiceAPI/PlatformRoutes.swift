import SluiceCore
import SluiceHTTP
import SluiceMetrics

/// Operator endpoints: liveness, readiness and the Prometheus scrape.
public struct PlatformRoutes: Sendable {
    private let readiness: Readiness
    private let registry: MetricsRegistry

    public init(readiness: Readiness, registry: MetricsRegistry) {
        self.readiness = readiness
        self.registry = registry
    }

    public var routes: [Route] {
        [
            Route(.get, "/healthz", .immediate { _ in .json(["status": "ok"]) }),
            Route(.get, "/readyz", .streaming { _, _ in await ready() }),
            Route(.get, "/metrics", .immediate { request in metrics(request) }),
        ]
    }

    private struct ReadinessBody: Encodable {
        struct Failure: Encodable {
            let code: String
            let message: String
        }
        let status: String
        let checks: [ReadinessCheck]
        let failing: [String]
        let error: Failure?
    }

    /// 200 when every check passes; otherwise 503 naming the failing checks.
    private func ready() async -> HTTPResponse {
        let checks = await readiness.check()
        let failing = checks.filter { !$0.ok }.map(\.name)
        guard failing.isEmpty else {
            let error = ReadinessBody.Failure(code: "not_ready",
                                              message: "failing checks: \(failing.joined(separator: ", "))")
            return .json(ReadinessBody(status: "unavailable", checks: checks, failing: failing, error: error), status: 503)
        }
        return .json(ReadinessBody(status: "ready", checks: checks, failing: [], error: nil))
    }

    /// The cached metrics snapshot in the format the scraper asked for, gzip'd when it accepts gzip.
    private func metrics(_ request: HTTPRequest) -> HTTPResponse {
        let format = ExpositionFormat.negotiate(acceptHeader: request.headers["Accept"])
        let gzip = HTTPContentNegotiation.acceptsGzip(request.headers["Accept-Encoding"])
        let snapshot = registry.snapshot(format: format, gzip: gzip)
        var headers: HTTPHeaders = ["Content-Type": snapshot.contentType, "Vary": "Accept, Accept-Encoding"]
        if snapshot.isGzipped { headers.add("Content-Encoding", "gzip") }
        return HTTPResponse(status: 200, headers: headers, body: snapshot.body)
    }
}
