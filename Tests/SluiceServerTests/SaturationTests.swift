import Foundation
import SluiceTestSupport
import Testing

/// Probes and scrapes are answered while every connection slot of the public API is taken: the operations
/// listener has slots of its own (before, 1,100 slowloris connections kept /healthz and /readyz out).
@Suite struct SaturationTests {
    @Test func operationsListenerAnswersWhileTheAPIIsSaturated() async throws {
        let sluice = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(),
                                               "--data-dir", try TestPostgres.makeTemporaryDirectory(),
                                               "--max-connections", "6", "--head-timeout", "120"])
        try await sluice.waitUntilReady()
        let operations = TestHTTPClient(port: sluice.operationsPort)
        #expect(sluice.operationsPort != 0 && sluice.operationsPort != sluice.port)

        // Six clients sending a head a byte every half second: the API's slots are all taken.
        var slow: [TestConnection] = []
        for _ in 0..<6 {
            let connection = try await sluice.client.connect()
            try await onThread { try connection.write(Array("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ".utf8)) }
            slow.append(connection)
        }
        let trickling = slow
        let trickle = Task.detached {
            while !Task.isCancelled {
                for connection in trickling { try? connection.write([0x7A]) }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        try await waitUntil("the API's six slots are all taken", interval: .milliseconds(100)) {
            try await operations.get("/metrics").text.contains("\nsluice_http_connections 6")
        }
        let refused = try await sluice.client.connect()
        defer { refused.close() }
        #expect(try await onThread { refused.isClosedByPeer(timeout: 30) }, "a seventh API connection is refused")

        #expect(try await operations.get("/healthz").status == 200)
        let ready = try await operations.get("/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        let metrics = try await operations.get("/metrics")
        #expect(metrics.status == 200 && metrics.text.contains("sluice_http_connections_refused_total"))
        #expect(try await operations.get("/api/v1/tenants").status == 404, "the operations listener serves nothing else")

        trickle.cancel()
        await trickle.value
        slow.forEach { $0.close() }
        slow = []
        #expect(try await sluice.terminate() == 0)
    }
}
