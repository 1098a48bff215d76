import Foundation
import SluiceHTTP

/// The web console at `/ui/`: static files shipped in SluiceAPI's resources, read once at start and served from
/// memory with a strict Content-Security-Policy (scripts and styles from Sluice only, no inline code, no framing).
public struct ConsoleRoutes: Sendable {
    private let files: [String: HTTPResponse]

    /// Reads the console's files; without them (a binary copied without its resources) `/ui/` answers 404.
    public init() {
        var files: [String: HTTPResponse] = [:]
        if let folder = BundledResources.url("console"),
           let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) {
            for name in names {
                guard let type = Self.types[URL(fileURLWithPath: name).pathExtension],
                      let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
                files[name] = HTTPResponse(status: 200, headers: Self.headers(type: type), body: Array(data))
            }
        }
        self.files = files
    }

    public var routes: [Route] {
        [
            Route(.get, "/ui", .immediate { request in
                // Relative links need the trailing slash.
                guard request.path.hasSuffix("/") else { return HTTPResponse(status: 308, headers: ["Location": "/ui/"]) }
                return file("index.html")
            }),
            Route(.get, "/ui/{file}", .immediate { request in file(request.pathParameter("file")) }),
        ]
    }

    private func file(_ name: String) -> HTTPResponse {
        files[name] ?? HTTPError(status: 404, code: "not_found", message: "the console has no file \(name)").response
    }

    private static let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"]

    private static func headers(type: String) -> HTTPHeaders {
        [
            "Content-Type": type,
            "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                + "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        ]
    }
}
