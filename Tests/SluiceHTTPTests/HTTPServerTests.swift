import Foundation
import Logging
import Synchronization
import SluiceCompression
import SluiceHTTP
import SluiceTestSupport
import Testing

/// How `/endless`'s producer stopped, once it has.
let endlessStreamStopped = Mutex<String?>(nil)

/// A server on an ephemeral loopback port with routes that exercise the transport (shared by the transport suites).
func withServer<T>(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                           _ body: (HTTPServer, TestHTTPClient) async throws -> T) async throws -> T {
    var configuration = HTTPServerConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0))
    // A loaded machine may take seconds between a test's connect and its first byte, or between two chunks;
    // the slow-client limits are tested with their own settings (HTTPSlowClientTests).
    configuration.headTimeoutSeconds = 300
    configuration.minimumBodyBytesPerSecond = 0
    configure(&configuration)
    let router = Router([
        Route(.get, "/hello", .immediate { _ in .text("hello") }),
        Route(.get, "/large", .immediate { _ in .text(String(repeating: "sluice metrics line\n", count: 2000)) }),
        Route(.get, "/items/{id}", .immediate { request in .text("item \(request.pathParameter("id"))") }),
        Route(.get, "/items/special", .immediate { _ in .text("special") }),
        Route(.post, "/upload", .streaming { _, body in
            var total = 0
            for try await chunk in body { total += chunk.count }
            return .json(["bytes": total])
        }),
        Route(.post, "/limited", .streaming { _, body in
            var total = 0
            for try await chunk in body {
                total += chunk.count
                if total > 1 << 20 {
                    throw HTTPError(status: 413, code: "file_too_large", message: "over 1 MiB")
                }
            }
            return .json(["bytes": total])
        }),
        Route(.get, "/lines/{count}", .streaming { request, _ in
            let count = Int(request.pathParameter("count")) ?? 0
            return .streaming(headers: ["Content-Type": "text/plain"]) { writer in
                for start in stride(from: 0, to: count, by: 1000) {
                    try await writer.write(Array((start..<min(start + 1000, count)).map { "line \($0)\n" }.joined().utf8))
                    if start % 10_000 == 0 { try await Task.sleep(for: .milliseconds(1)) }
                }
            }
        }),
        Route(.get, "/endless", .streaming { _, _ in
            .streaming(headers: ["Content-Type": "application/octet-stream"]) { writer in
                do {
                    while true { try await writer.write([UInt8](repeating: 0x61, count: 65536)) }
                } catch {
                    endlessStreamStopped.withLock { $0 = "\(error)" }
                    throw error
                }
            }
        }),
        Route(.get, "/slow", .streaming { _, _ in
            try await Task.sleep(for: .milliseconds(500))
            return .text("done")
        }),
    ])
    let server = HTTPServer(configuration: configuration, router: router, logger: Logger(label: "test"))
    try server.start()
    do {
        let result = try await body(server, TestHTTPClient(port: server.port))
        await server.shutdown()
        return result
    } catch {
        await server.shutdown()
        throw error
    }
}

@Suite struct HTTPServerTests {
    @Test func servesImmediateRouteAndPathParameters() async throws {
        try await withServer { _, client in
            let hello = try await client.get("/hello")
            #expect(hello.status == 200)
            #expect(hello.text == "hello")
            #expect(try await client.get("/items/42").text == "item 42")
            #expect(try await client.get("/items/special").text == "special")
        }
    }

    /// Two different Content-Length headers, or one beside Transfer-Encoding, could be read differently by a
    /// proxy in front: refused with a JSON 400 before any body is read (the first one was used before).
    @Test func ambiguousFramingIsRefused() async throws {
        try await withServer { _, client in
            for extra in ["Content-Length: 5\r\nContent-Length: 50\r\n", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"] {
                let connection = try await client.connect()
                defer { connection.close() }
                let request = Array("POST /upload HTTP/1.1\r\nHost: test\r\n\(extra)\r\nhello".utf8)
                let response = try await onThread { try connection.roundTrip(request, method: "POST") }
                #expect(response.status == 400, "\(extra): \(response.text)")
                #expect(response.errorCode == "ambiguous_framing")
            }
        }
    }

    /// `%00` used to cut the path the routes saw (`/tenants/a%00/files` answered for tenant `a`): control
    /// characters in a path are refused; other escapes still decode.
    @Test func controlCharactersInPathsAreRefused() async throws {
        try await withServer { _, client in
            for path in ["/items/7%00", "/items/%00", "/items/a%1fb", "/items/a%7F"] {
                let response = try await client.get(path)
                #expect(response.status == 400, "\(path): \(response.text)")
                #expect(response.errorCode == "invalid_path")
            }
            #expect(try await client.get("/items/%41b").text == "item Ab")
        }
    }

    @Test func unknownRouteIs404JSON() async throws {
        try await withServer { _, client in
            let response = try await client.get("/nope")
            #expect(response.status == 404)
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.errorCode == "route_not_found")
            let error = try #require(try response.json()["error"] as? [String: Any])
            #expect((error["message"] as? String)?.isEmpty == false)
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withServer { _, client in
            let response = try await client.send("DELETE", "/hello")
            #expect(response.status == 405)
            #expect(response.header("Allow") == "GET")
            #expect(response.errorCode == "method_not_allowed")
        }
    }

    @Test func gzipWhenAcceptedAndDecodesToSameBody() async throws {
        try await withServer { _, client in
            let plain = try await client.get("/large")
            #expect(plain.header("Content-Encoding") == nil)
            let zipped = try await client.get("/large", headers: [("Accept-Encoding", "gzip, deflate")])
            #expect(zipped.header("Content-Encoding") == "gzip")
            #expect(zipped.body.count < plain.body.count / 4)
            #expect(try Gzip.decompress(zipped.body, maximumSize: 1 << 20) == plain.body)
            let refused = try await client.get("/large", headers: [("Accept-Encoding", "gzip;q=0")])
            #expect(refused.header("Content-Encoding") == nil)
        }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await withServer { _, client in
            let connection = try await client.connect()
            defer { connection.close() }
            let (first, second) = try await onThread {
                (try connection.roundTrip(client.request("GET", "/hello")),
                 try connection.roundTrip(client.request("GET", "/items/7")))
            }
            #expect(first.status == 200)
            #expect(first.header("Connection")?.lowercased() != "close")
            #expect(second.text == "item 7")
        }
    }

    /// Runs in a child process so other tests' allocations cannot blur the measurement.
    @Test func streamsLargeUploadWithBoundedMemory() async throws {
        await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            let size = 200 * 1024 * 1024
            let growth = try await withServer { _, client in
                let before = ProcessProbe.residentBytes()
                let response = try await client.send("POST", "/upload",
                                                     body: .repeating(pattern: [UInt8](repeating: 0x61, count: 65536), count: size))
                guard response.status == 200, try response.json()["bytes"] as? Int == size else {
                    throw TestClientError("upload failed: \(response.status) \(response.text)")
                }
                return ProcessProbe.peakResidentBytes() - before
            }
            guard growth < 50 * 1024 * 1024 else { throw TestClientError("resident memory grew by \(growth) bytes") }
        }
    }

    @Test func handlerRejectingMidStreamCutsTheUpload() async throws {
        try await withServer { _, client in
            let connection = try await client.connect()
            defer { connection.close() }
            let size = 512 * 1024 * 1024
            let outcome: Result<TestHTTPResponse, any Error> = try await onThread {
                do {
                    try connection.write(client.request("POST", "/limited", body: .repeating(pattern: [0x62], count: size)))
                    try connection.write(.repeating(pattern: [UInt8](repeating: 0x62, count: 65536), count: size))
                    return .failure(TestClientError("the server read the whole 512 MiB body"))
                } catch {
                    return Result { try connection.readResponse(method: "POST") }
                }
            }
            let response = try outcome.get()
            #expect(response.status == 413)
            #expect(response.errorCode == "file_too_large")
        }
    }

    @Test func connectionsOverTheLimitAreRefusedNotHung() async throws {
        try await withServer({ $0.connectionLimit = 3 }) { server, client in
            var open: [TestConnection] = []
            for _ in 0..<3 {
                let connection = try await client.connect()
                _ = try await onThread { try connection.roundTrip(client.request("GET", "/hello")) }
                open.append(connection)
            }
            let extra = try await client.connect()
            #expect(try await onThread { extra.isClosedByPeer(timeout: 30) })
            extra.close()
            #expect(server.refusedConnections >= 1)
            let first = open[0]
            let stillServed = try await onThread { try first.roundTrip(client.request("GET", "/hello")) }
            #expect(stillServed.status == 200)
            open.forEach { $0.close() }
        }
    }

    @Test func perIPLimitRefusesExtraConnectionsFromOneAddress() async throws {
        try await withServer({ $0.perIPConnectionLimit = 2 }) { _, client in
            let first = try await client.connect()
            let second = try await client.connect()
            _ = try await onThread { try first.roundTrip(client.request("GET", "/hello")) }
            _ = try await onThread { try second.roundTrip(client.request("GET", "/hello")) }
            let third = try await client.connect()
            #expect(try await onThread { third.isClosedByPeer(timeout: 30) })
            [first, second, third].forEach { $0.close() }
        }
    }

    @Test func idleConnectionsAreClosedAfterTheTimeout() async throws {
        try await withServer({ $0.idleTimeoutSeconds = 3 }) { _, client in
            // Connect and ask on one thread, so no scheduling delay eats into the idle time.
            let (connection, served) = try await onThread {
                let connection = try TestConnection(host: client.host, port: client.port)
                return (connection, try connection.roundTrip(client.request("GET", "/hello")))
            }
            defer { connection.close() }
            #expect(served.status == 200)
            #expect(try await onThread { connection.isClosedByPeer(timeout: 30) })
        }
    }

    @Test func oversizedHeadersAreRefused() async throws {
        try await withServer({ $0.maximumHeaderBytes = 8 * 1024 }) { _, client in
            let response = try await client.get("/hello", headers: [("X-Padding", String(repeating: "p", count: 16 * 1024))])
            #expect([413, 414, 431].contains(response.status))
        }
    }

    @Test func shutdownLetsInFlightRequestsFinish() async throws {
        var configuration = HTTPServerConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0))
        configuration.shutdownGraceSeconds = 10
        let server = HTTPServer(configuration: configuration,
                                router: Router([Route(.get, "/slow", .streaming { _, _ in
                                    try await Task.sleep(for: .milliseconds(500))
                                    return .text("done")
                                })]), logger: Logger(label: "test"))
        try server.start()
        let client = TestHTTPClient(port: server.port)
        let slow = Task { try await client.get("/slow") }
        while server.inFlightRequests == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await server.shutdown()
        let response = try await slow.value
        #expect(response.status == 200)
        #expect(response.text == "done")
        await #expect(throws: (any Error).self) { try await client.get("/slow") }
    }

    @Test func routerPrefersLiteralSegmentsAndReportsAllowedMethods() {
        let router = Router([
            Route(.get, "/a/{x}", .immediate { _ in .text("") }),
            Route(.post, "/a/{x}", .immediate { _ in .text("") }),
            Route(.get, "/a/b", .immediate { _ in .text("") }),
        ])
        guard case .found(let route, _) = router.match(method: .get, path: "/a/b") else { Issue.record("no match"); return }
        #expect(route.template == "/a/b")
        guard case .methodNotAllowed(let allowed) = router.match(method: .put, path: "/a/z") else { Issue.record("expected 405"); return }
        #expect(Set(allowed.map(\.rawValue)) == ["GET", "POST"])
        guard case .notFound = router.match(method: .get, path: "/a/b/c") else { Issue.record("expected 404"); return }
    }
}
