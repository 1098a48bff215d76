import Foundation
import SluiceCompression
import SluiceHTTP
import SluiceTestSupport
import Testing

/// Responses whose body is produced while it is sent: chunked, gzip'd on request, paced by the client in bounded
/// memory, and stopped when the client goes away.
@Suite struct HTTPStreamedResponseTests {
    private static func expectedLines(_ count: Int) -> [UInt8] {
        Array((0..<count).map { "line \($0)\n" }.joined().utf8)
    }

    @Test func aStreamedBodyArrivesWholeAndChunked() async throws {
        try await withServer { _, client in
            let response = try await client.get("/lines/50000")
            #expect(response.status == 200 && response.header("Transfer-Encoding")?.lowercased() == "chunked")
            #expect(response.header("Content-Length") == nil && response.header("Content-Type") == "text/plain")
            #expect(response.body == Self.expectedLines(50000))
            let empty = try await client.get("/lines/0")
            #expect(empty.status == 200 && empty.body.isEmpty)
        }
    }

    @Test func aStreamedBodyIsGzippedWhenAccepted() async throws {
        try await withServer { _, client in
            let zipped = try await client.get("/lines/50000", headers: [("Accept-Encoding", "gzip")])
            #expect(zipped.header("Content-Encoding") == "gzip" && zipped.header("Vary") == "Accept-Encoding")
            #expect(zipped.body.count < Self.expectedLines(50000).count / 4)
            #expect(try Gzip.decompress(zipped.body, maximumSize: 1 << 24) == Self.expectedLines(50000))
        }
    }

    @Test func keepAliveGoesOnAfterAStreamedBody() async throws {
        try await withServer { _, client in
            let connection = try await client.connect()
            defer { connection.close() }
            let (first, second) = try await onThread {
                (try connection.roundTrip(client.request("GET", "/lines/3000")), try connection.roundTrip(client.request("GET", "/hello")))
            }
            #expect(first.body == Self.expectedLines(3000) && second.text == "hello")
        }
    }

    @Test func aClientThatLeavesStopsTheProducer() async throws {
        endlessStreamStopped.withLock { $0 = nil }
        try await withServer { _, client in
            let connection = try await client.connect()
            try connection.write(client.request("GET", "/endless"))
            let read = try await onThread { try connection.discard(upTo: 1 << 20) }
            #expect(read >= 1 << 20)
            // Gone for good (a killed client): the server's next write fails. A client that only shuts its socket
            // down keeps receiving until its window fills, and is closed by the idle timeout instead.
            connection.reset()
            try await waitUntil("the producer is told the client left", timeout: .seconds(60), interval: .milliseconds(20)) {
                endlessStreamStopped.withLock { $0 } != nil
            }
            #expect(endlessStreamStopped.withLock { $0 }?.contains("client_disconnected") == true)
        }
    }

    /// Runs in a child process so other tests' allocations cannot blur the measurement.
    @Test func aLargeStreamedBodyKeepsMemoryBounded() async throws {
        await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            let count = 10_000_000  // 129 MB
            let (read, growth) = try await withServer { _, client in
                let before = ProcessProbe.residentBytes()
                let connection = try await client.connect()
                defer { connection.close() }
                try connection.write(client.request("GET", "/lines/\(count)", headers: [("Connection", "close")]))
                // A client that does not read for a while: the producer must wait for it, not buffer the body.
                try await Task.sleep(for: .seconds(2))
                let read = try await onThread { try connection.discard() }
                return (read, ProcessProbe.peakResidentBytes() - before)
            }
            guard read > 128_000_000 else { throw TestClientError("only \(read) bytes arrived") }
            guard growth < 50 * 1024 * 1024 else { throw TestClientError("resident memory grew by \(growth) bytes") }
        }
    }
}
