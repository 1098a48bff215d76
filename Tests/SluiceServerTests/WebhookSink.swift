import Foundation
import Logging
import SluiceHTTP
import Synchronization

/// A real HTTP server on loopback that takes webhook POSTs at `/{name}`, keeps them, and answers each with the
/// next status its script holds for that name (200 once the script is spent); `/silent` answers only once the sink
/// stops.
final class WebhookSink: Sendable {
    struct Received: Sendable {
        let name: String
        let headers: [String: String]
        let body: [UInt8]
        let at: Date

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    private let server: HTTPServer
    private let received = Mutex<[Received]>([])
    private let scripts: Mutex<[String: [Int]]>
    /// `/silent`'s requests waiting for the sink to stop; nil once it has.
    private let silenced = Mutex<[CheckedContinuation<Void, Never>]?>([])

    init(scripts: [String: [Int]] = [:]) throws {
        self.scripts = Mutex(scripts)
        var configuration = HTTPServerConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0))
        configuration.headTimeoutSeconds = 300
        configuration.minimumBodyBytesPerSecond = 0
        let box = Mutex<WebhookSink?>(nil)
        server = HTTPServer(configuration: configuration, router: Router([
            Route(.post, "/{name}", .streaming { request, body in
                let bytes = try await body.collect(upTo: 4 << 20)
                guard let sink = box.withLock({ $0 }) else { return .text("gone", status: 503) }
                return try await sink.take(request, bytes)
            }),
        ]), logger: Logger(label: "webhook-sink"))
        box.withLock { $0 = self }
        try server.start()
    }

    var url: String { "http://127.0.0.1:\(server.port)" }

    var requests: [Received] { received.withLock { $0 } }

    func requests(_ name: String) -> [Received] { requests.filter { $0.name == name } }

    func stop() async {
        for waiting in silenced.withLock({ waiting in defer { waiting = nil }; return waiting ?? [] }) { waiting.resume() }
        await server.shutdown()
    }

    private func take(_ request: HTTPRequest, _ body: [UInt8]) async throws -> HTTPResponse {
        let name = request.pathParameter("name")
        var headers: [String: String] = [:]
        for header in ["Authorization", "Content-Type", "X-Sluice-Signature", "User-Agent"] { headers[header] = request.headers[header] }
        received.withLock { $0.append(Received(name: name, headers: headers, body: body, at: Date())) }
        if name == "silent" {
            await withCheckedContinuation { continuation in
                let stopped = silenced.withLock { waiting in
                    waiting?.append(continuation)
                    return waiting == nil
                }
                if stopped { continuation.resume() }
            }
        }
        let status = scripts.withLock { scripts in scripts[name]?.isEmpty == false ? scripts[name]!.removeFirst() : 200 }
        var response = HTTPResponse.text(status == 200 ? "ok" : "no", status: status)
        if status == 429 { response.headers.add("Retry-After", "1") }
        return response
    }
}
