import ArgumentParser
import Foundation
import Logging
import SluiceAPI
import SluiceCore
import SluiceHTTP
import SluiceMetrics
import SluiceStore
import SluiceTestSupport

/// `/metrics` rendering time for N series and `/metrics` requests per second over loopback.
struct MetricsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Render N series (vs. a naive String renderer) and load /metrics over loopback (vs. /healthz).")

    @Option(help: "Labelled series in the registry.")
    var series = 10_000

    @Option(help: "Renders to time (the median is reported).")
    var renders = 30

    @Option(help: "Seconds of load per endpoint.")
    var seconds = 3.0

    @Option(help: "Concurrent keep-alive connections of the load generator.")
    var connections = 8

    func run() async throws {
        let registry = MetricsRegistry(configuration: .init(snapshotMaximumAge: .seconds(1)))
        let counter = registry.counter(name: "sluice_bench_rows_total", help: "Rows per tenant.", labelNames: ["tenant"])
        var values: [(String, Double)] = []
        for index in 0..<series {
            let tenant = "tenant-\(index)"
            let value = Double(index * 7)
            counter.labels(tenant).increment(by: value)
            values.append((tenant, value))
        }

        let small = labelSetCost(series)
        let large = labelSetCost(series * 10)
        print("add label sets: \(series) in \(ms(small * Double(series))) ms, \(series * 10) in \(ms(large * Double(series * 10))) ms; "
              + "per-set cost ratio \(String(format: "%.2f", large / small)) (1.0 = O(1) per set)")

        let ours = median(renders) { _ = registry.render(format: .prometheusText) }
        let naive = median(renders) { _ = naiveRender(values) }
        let bytes = registry.render(format: .prometheusText).count
        print("render \(series) series (\(bytes) bytes): \(ms(ours)) ms; naive String renderer \(ms(naive)) ms; "
              + "ratio \(String(format: "%.2f", naive / ours))x faster")
        let open = median(renders) { _ = registry.render(format: .openMetrics) }
        print("render OpenMetrics: \(ms(open)) ms")

        let routes = PlatformRoutes(
            readiness: Readiness(pool: PostgresConnectionPool(connectionString: "host=/nonexistent"),
                                 migrator: PlatformSchema.migrator, components: ComponentRegistry()),
            registry: registry)
        let server = HTTPServer(configuration: .init(address: ListenAddress(host: "127.0.0.1", port: 0)),
                                router: Router(routes.routes), logger: Logger(label: "bench"))
        try server.start()
        let healthz = try await load("/healthz", port: server.port, headers: [])
        let metrics = try await load("/metrics", port: server.port, headers: [])
        let gzipped = try await load("/metrics", port: server.port, headers: [("Accept-Encoding", "gzip")])
        await server.shutdown()
        print("GET /healthz: \(Int(healthz)) req/s (baseline)")
        print("GET /metrics (\(series) series, plain): \(Int(metrics)) req/s; ratio to /healthz \(String(format: "%.3f", metrics / healthz))")
        print("GET /metrics (\(series) series, gzip): \(Int(gzipped)) req/s; ratio to /healthz \(String(format: "%.3f", gzipped / healthz))")
    }

    /// Requests per second from `connections` keep-alive clients for `seconds`.
    private func load(_ path: String, port: UInt16, headers: [(String, String)]) async throws -> Double {
        let client = TestHTTPClient(port: port)
        let request = client.request("GET", path, headers: headers)
        let duration = seconds
        let started = ContinuousClock.now
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<connections {
                let connection = try await client.connect()
                group.addTask {
                    try await onThread {
                        defer { connection.close() }
                        let deadline = ContinuousClock.now + .milliseconds(Int(duration * 1000))
                        var count = 0
                        while ContinuousClock.now < deadline {
                            let response = try connection.roundTrip(request)
                            guard response.status == 200 else { throw TestClientError("status \(response.status)") }
                            count += 1
                        }
                        return count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(counts) / started.duration(to: .now).secondsValue
    }
}

/// Seconds per new label set when adding `count` of them to a fresh family.
private func labelSetCost(_ count: Int) -> Double {
    let family = MetricsRegistry().counter(name: "sluice_bench_sets_total", help: "Label-set cost.", labelNames: ["tenant"])
    let start = ContinuousClock.now
    for index in 0..<count { family.labels("tenant-\(index)").increment() }
    return start.duration(to: .now).secondsValue / Double(count)
}

/// What a straightforward implementation does: sort, then build the text with String interpolation.
private func naiveRender(_ values: [(String, Double)]) -> [UInt8] {
    var text = "# HELP sluice_bench_rows_total Rows per tenant.\n# TYPE sluice_bench_rows_total counter\n"
    for (tenant, value) in values.sorted(by: { $0.0 < $1.0 }) {
        text += "sluice_bench_rows_total{tenant=\"\(tenant)\"} \(value)\n"
    }
    return Array(text.utf8)
}

/// Median wall time of `count` runs, in seconds.
private func median(_ count: Int, _ body: () -> Void) -> Double {
    var samples: [Double] = []
    for _ in 0..<count {
        let start = ContinuousClock.now
        body()
        samples.append(start.duration(to: .now).secondsValue)
    }
    return samples.sorted()[samples.count / 2]
}

private func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }
