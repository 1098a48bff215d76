import Foundation
import Logging
import SluiceHTTP
import SluiceTestSupport
import Synchronization
import Testing

/// Clients that leave mid-body while their connection is suspended (the handler is behind on the body or
/// busy elsewhere), and a shutdown that finds connections suspended.
@Suite struct HTTPDisconnectTests {
    /// What the server's callbacks saw, for the test to wait on.
    private final class Observed: Sendable {
        let handlerStarted = Atomic<Int>(0)
        let handlerEnded = Mutex<[String]>([])
        let completed = Mutex<[HTTPRequestLog]>([])
    }

    /// A server whose `/stalled` handler waits (cancellably) without reading its body, and whose `/slow`
    /// handler takes 50 ms over each chunk.
    private func withServer(shutdownGrace: Double = 30,
                            _ body: (HTTPServer, TestHTTPClient, Observed) async throws -> Void) async throws {
        let observed = Observed()
        let router = Router([
            Route(.post, "/stalled", .streaming { _, _ in
                observed.handlerStarted.add(1, ordering: .relaxed)
                do {
                    try await Task.sleep(for: .seconds(600))
                    observed.handlerEnded.withLock { $0.append("slept") }
                } catch {
                    observed.handlerEnded.withLock { $0.append("cancelled") }
                }
                return .text("late")
            }),
            Route(.post, "/slow", .streaming { _, body in
                observed.handlerStarted.add(1, ordering: .relaxed)
                do {
                    for try await _ in body { try await Task.sleep(for: .milliseconds(50)) }
                    observed.handlerEnded.withLock { $0.append("complete") }
                } catch {
                    observed.handlerEnded.withLock { $0.append("\(error)") }
                }
                return .text("done")
            }),
        ])
        var configuration = HTTPServerConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0))
        configuration.shutdownGraceSeconds = shutdownGrace
        // These clients stall on purpose, for as long as a loaded machine takes; slow-client limits are
        // tested apart (HTTPSlowClientTests).
        configuration.headTimeoutSeconds = 300
        configuration.minimumBodyBytesPerSecond = 0
        let server = HTTPServer(configuration: configuration, router: router, logger: Logger(label: "test")) { log in
            observed.completed.withLock { $0.append(log) }
        }
        try server.start()
        do {
            try await body(server, TestHTTPClient(port: server.port), observed)
            await server.shutdown()
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Sends the head of a `size`-byte upload and `sent` bytes of it, on a connection of its own.
    private func startUpload(_ client: TestHTTPClient, _ path: String, size: Int, sent: Int) async throws -> TestConnection {
        let connection = try await client.connect()
        let head = client.request("POST", path, body: .repeating(pattern: [], count: size))
        try await onThread { try connection.write(head + [UInt8](repeating: 0x61, count: sent)) }
        return connection
    }

    @Test func aClientLeavingWhileItsHandlerWaitsElsewhereEndsTheHandlerAtOnce() async throws {
        try await withServer { server, client, observed in
            // More than the body buffer (256 KiB): the transport stops reading and suspends the connection.
            let connection = try await startUpload(client, "/stalled", size: 4 << 20, sent: 1 << 20)
            try await waitUntil("the connection is suspended and its handler runs") {
                server.suspendedConnections == 1 && observed.handlerStarted.load(ordering: .relaxed) == 1
            }

            // A client that is killed or times out resets the connection. (A FIN would wait in the client's
            // kernel behind the bytes the server's full window does not take: nothing can notice it then.)
            let left = ContinuousClock.now
            connection.reset()
            try await waitUntil("the handler is cancelled and the request completed", timeout: .seconds(60)) {
                observed.handlerEnded.withLock { $0 } == ["cancelled"] && observed.completed.withLock { $0.count } == 1
            }
            #expect(left.duration(to: .now) < .seconds(50), "not at the handler's own end (600 s)")
            #expect(observed.completed.withLock { $0.first?.status } == nil)
            try await waitUntil("the connection is gone") { server.openConnections == 0 && server.suspendedConnections == 0 }
        }
    }

    @Test func aClientLeavingWhileItsHandlerReadsSlowlyFailsTheBody() async throws {
        try await withServer { server, client, observed in
            let connection = try await startUpload(client, "/slow", size: 4 << 20, sent: 512 << 10)
            try await waitUntil("the connection is suspended") { server.suspendedConnections == 1 }
            connection.close()
            // The handler drains what was sent (50 ms a chunk, slower on a loaded machine) before the end shows.
            try await waitUntil("the handler sees the body fail", timeout: .seconds(120)) { !observed.handlerEnded.withLock { $0 }.isEmpty }
            // Cancelled while it sleeps over a chunk, or failed while it waits for the next one.
            let ended = observed.handlerEnded.withLock { $0 }
            #expect(ended == ["CancellationError()"] || ended == ["request body incomplete: client_disconnected"], "\(ended)")
            try await waitUntil("the connection is gone") { server.openConnections == 0 }
        }
    }

    /// A client that sent its whole body and then shut down its sending side still gets its upload read.
    @Test func aClientThatSentEverythingBeforeClosingItsSideIsServed() async throws {
        try await withServer { server, client, observed in
            let size = 1 << 20
            let connection = try await startUpload(client, "/slow", size: size, sent: size)
            defer { connection.close() }
            try await waitUntil("the connection is suspended") { server.suspendedConnections == 1 }
            connection.shutdownWriting()
            try await waitUntil("the handler read the whole body", timeout: .seconds(120)) { !observed.handlerEnded.withLock { $0 }.isEmpty }
            #expect(observed.handlerEnded.withLock { $0 } == ["complete"])
        }
    }

    /// libmicrohttpd aborts the process when it is stopped with a connection still suspended.
    @Test func shutdownWithSuspendedConnectionsEndsCleanly() async throws {
        try await withServer(shutdownGrace: 0.2) { server, client, observed in
            var connections: [TestConnection] = []
            for _ in 0..<4 { connections.append(try await startUpload(client, "/stalled", size: 4 << 20, sent: 1 << 20)) }
            try await waitUntil("every connection is suspended") { server.suspendedConnections == 4 }
            await server.shutdown()
            #expect(server.suspendedConnections == 0)
            try await waitUntil("every handler is cancelled") { observed.handlerEnded.withLock { $0 } == Array(repeating: "cancelled", count: 4) }
            connections.forEach { $0.close() }
        }
    }
}
