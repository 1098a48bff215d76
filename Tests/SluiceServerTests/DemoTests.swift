import Foundation
import SluiceTestSupport
import Testing

/// `sluice demo` as users run it, a real process on its embedded PostgreSQL with the example configuration:
/// it prints where to look, sends every example tenant batch files that are ingested (with rejects) and stream
/// messages that are accepted (some dropped by the stream apps), all seen in /metrics while it runs, reports its progress, and stops cleanly after --duration with every request answered (its load stops
/// before the service).
@Suite struct DemoTests {
    @Test func theDemoFeedsTheExampleTenantsAndStopsCleanly() async throws {
        let data = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-demo")
        let demo = try TestDaemon(SluiceProcess.executable, [
            "demo", "--config", SluiceProcess.packageRoot + "/examples", "--data-dir", data, "--listen", "127.0.0.1:0",
            "--operations-listen", "none", "--duration", "90",
        ], installedBy: "swift build --build-tests")
        // While it runs, /metrics shows every example tenant's load arriving.
        try await waitUntil("the demo prints where it listens", timeout: .seconds(120), interval: .milliseconds(200)) {
            demo.log.contains("Sluice listens on http://127.0.0.1:") || !demo.isRunning
        }
        let port = try #require(demo.log.firstMatch(of: /Sluice listens on http:\/\/127\.0\.0\.1:(\d+)/).flatMap { UInt16($0.output.1) })
        let tenants = ["tenant-a", "tenant-b", "tenant-c", "tenant-d"]
        let alive = tenants.flatMap { [#"sluice_ingest_files_total{tenant="\#($0)",outcome="partial"}"#,
                                      #"sluice_stream_messages_total{tenant="\#($0)",outcome="accepted"}"#] }
            + [#"sluice_stream_messages_total{tenant="tenant-c",outcome="rejected"}"#, #"sluice_stream_messages_total{tenant="tenant-d",outcome="rejected"}"#]
        try await waitUntil("every example tenant's load shows in /metrics", timeout: .seconds(85), interval: .milliseconds(500)) {
            guard demo.isRunning else { throw TestClientError("the demo stopped early:\n\(demo.log.suffix(3000))") }
            let metrics = try await TestHTTPClient(port: port).get("/metrics").text
            return alive.allSatisfy { (metricValue(metrics, $0) ?? 0) > 0 }
        }
        try await waitUntil("the demo stops after its duration", timeout: .seconds(300), interval: .milliseconds(200)) { !demo.isRunning }
        let log = demo.log
        #expect(demo.exitStatus == 0, "\(log.suffix(3000))")
        #expect(log.contains("sluice demo: Sluice listens on http://127.0.0.1:"), "where to look is printed")
        let progress = log.split(separator: "\n").filter { $0.hasPrefix("sluice demo ") }
        let last = try #require(progress.last, "no progress line in\n\(log.suffix(3000))")
        #expect(last.hasPrefix("sluice demo stopped: "), "the last line sums the load up: \(last)")
        let numbers = last.matches(of: /(\d+) files sent \(\d+ all bad, (\d+) accepted\), (\d+) stream messages \((\d+) accepted, \d+ refused\), (\d+) requests unanswered/)
        let match = try #require(numbers.first, "\(last)")
        #expect(Int(match.output.2) ?? 0 >= 4 && Int(match.output.4) ?? 0 >= 200, "\(last)")
        #expect(match.output.5 == "0", "\(last)")
        try? FileManager.default.removeItem(atPath: data)
    }
}
