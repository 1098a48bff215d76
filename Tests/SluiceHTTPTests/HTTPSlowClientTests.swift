import Foundation
import SluiceHTTP
import SluiceTestSupport
import Testing

/// Clients that send a request a byte at a time (slowloris) cannot hold connection slots: a request head
/// has a deadline, which libmicrohttpd's idle timeout (restarted by every byte) is not, and a body has a
/// minimum rate.
@Suite struct HTTPSlowClientTests {
    /// Writes `bytes` one at a time, `interval` apart, until they are sent, the server closes the connection
    /// or the task is cancelled; returns at once. Await the task (after cancelling it) before closing.
    private func trickle(_ bytes: [UInt8], on connection: TestConnection, every interval: Duration) -> Task<Void, Never> {
        Task.detached {
            for byte in bytes {
                guard !Task.isCancelled, (try? connection.write([byte])) != nil else { return }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }

    @Test func headsTricklingInPastTheDeadlineAreAnswered408AndTheirSlotsFreed() async throws {
        try await withServer({ $0.headTimeoutSeconds = 1; $0.connectionLimit = 4 }) { server, client in
            // Without the deadline these would take 20 s each and hold every slot all along.
            let head = Array("GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: \(String(repeating: "z", count: 200))\r\n\r\n".utf8)
            var slow: [(TestConnection, Task<Void, Never>)] = []
            for _ in 0..<4 {
                let connection = try await client.connect()
                slow.append((connection, trickle(head, on: connection, every: .milliseconds(100))))
            }
            for (connection, writer) in slow {
                let answer = try await onThread { try connection.readResponse(method: "GET") }
                #expect(answer.status == 408 && answer.errorCode == "header_timeout", "\(answer.status) \(answer.text)")
                #expect(try await onThread { connection.isClosedByPeer(timeout: 30) })
                writer.cancel()
                await writer.value
                connection.close()
            }
            #expect(server.headTimeouts == 4)
            try await waitUntil("the freed slots serve requests again", timeout: .seconds(30)) {
                server.openConnections == 0
            }
            #expect(try await client.get("/hello").status == 200)
        }
    }

    /// A kept-alive connection may wait for its next request as long as the idle timeout, but not trickle
    /// it in for longer: then it is closed, without an answer, since no request is under way.
    @Test func nextHeadsTricklingInPastTheIdleTimeoutAreClosed() async throws {
        try await withServer({ $0.idleTimeoutSeconds = 3 }) { server, client in
            // All on one thread of its own, so no scheduling delay lets the idle timeout fire between bytes.
            let (served, closed) = try await onThread { () throws -> (Int, Bool) in
                let connection = try TestConnection(host: client.host, port: client.port)
                defer { connection.close() }
                let served = try connection.roundTrip(client.request("GET", "/hello")).status
                let started = Date()
                for byte in Array("GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: \(String(repeating: "z", count: 600))".utf8) {
                    guard (try? connection.write([byte])) != nil, Date().timeIntervalSince(started) < 60 else { break }
                    if connection.isClosedByPeer(timeout: 0.1) { return (served, true) }
                }
                return (served, connection.isClosedByPeer(timeout: 30))
            }
            #expect(served == 200)
            #expect(closed)
            #expect(server.headTimeouts == 1)
        }
    }

    @Test func bodiesSlowerThanTheMinimumRateAreAnswered408() async throws {
        try await withServer({ $0.minimumBodyBytesPerSecond = 1000; $0.bodyRateWindowSeconds = 1 }) { server, client in
            let connection = try await client.connect()
            defer { connection.close() }
            try await onThread { try connection.write(Array("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n".utf8)) }
            // A byte every 5 ms is 200 bytes per second at most, a fifth of the minimum.
            let writer = trickle(Array(repeating: 0x61, count: 100_000), on: connection, every: .milliseconds(5))
            let answer = try await onThread { try connection.readResponse(method: "POST") }
            writer.cancel()
            await writer.value
            #expect(answer.status == 408 && answer.errorCode == "body_too_slow", "\(answer.status) \(answer.text)")
            try await waitUntil("the slow body is counted") { server.slowBodies == 1 }
            // A body at full speed is untouched by the same limit.
            let fast = try await client.send("POST", "/upload", body: .repeating(pattern: [0x62], count: 1 << 20))
            #expect(fast.status == 200 && fast.text.contains("1048576"), "\(fast.text)")
        }
    }
}
