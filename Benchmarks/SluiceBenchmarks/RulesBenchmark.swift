import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceMetrics
import SluiceStore
import SluiceTestSupport

/// One evaluation cycle of 1,000 rules (threshold and SLO) over 30 days of reports of 100 tenants (a file an
/// hour each, and a stream window every 10 s for 10 of them), against, in the same run, the same series
/// computed by one straightforward SQL query over the reports per rule and tenant.
struct RulesBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Rule evaluation: one cycle of the monitor vs. one SQL query per rule and tenant over the reports.")

    @Option(help: "Rules (70 % threshold, 30 % SLO), each watching every tenant.")
    var rules = 1000

    @Option(help: "Tenants (a file an hour each); a tenth of them also stream (a window every 10 s).")
    var tenants = 100

    @Option(help: "Days of reports.")
    var days = 30

    @Option(help: "Timed evaluation cycles (after one that creates the alerts).")
    var cycles = 5

    @Option(help: "Baseline queries timed: a sample of (rule, tenant) pairs in the proportions of the whole, extrapolated.")
    var baselineSample = 1000

    func run() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-rules-bench")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var quiet = Logger(label: "bench")
        quiet.logLevel = .warning
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: directory + "/pg", logger: quiet))
        let url = try await cluster.start()
        let pool = PostgresConnectionPool(connectionString: url, configuration: .init(maximumConnections: 4))
        do {
            _ = try await PlatformSchema.migrator.migrate(using: pool)
            let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60)
            let data = RulesBenchData(pool: pool, now: now, tenants: tenants, days: days)
            let setup = ContinuousClock.now
            let reports = try await data.fill()
            print("data: \(reports) reports of \(tenants) tenants over \(days) days (\(tenants / 10) streaming) in \(Self.seconds(setup.duration(to: .now))) s")
            let rulesDirectory = directory + "/config"
            try FileManager.default.createDirectory(atPath: rulesDirectory + "/rules", withIntermediateDirectories: true)
            try RulesBenchData.rulesYAML(rules).write(toFile: rulesDirectory + "/rules/bench.yaml", atomically: true, encoding: .utf8)
            let monitor = Monitor(configuration: .init(directory: rulesDirectory), pool: pool,
                                  tenants: TenantService(pool: pool, staging: StagingArea(root: directory + "/staging", instance: "bench"), logger: quiet),
                                  receivers: [], metrics: MonitorMetrics(registry: MetricsRegistry()), logger: quiet)
            let loaded = try monitor.reload()
            let first = ContinuousClock.now
            let initial = try await monitor.evaluate(at: now)
            print("first cycle (creates \(initial.active.count) alerts): \(Self.seconds(first.duration(to: .now))) s")
            var times: [Double] = []
            for cycle in 0..<cycles {
                let start = ContinuousClock.now
                try await monitor.evaluate(at: now.addingTimeInterval(Double(cycle + 1) * 15))
                times.append(start.duration(to: .now).secondsValue)
            }
            times.sort()
            let median = times[times.count / 2]
            print("monitor: one cycle of \(loaded.rules.count) rules × \(tenants) tenants: median \(Self.format(median)) s, "
                  + "min \(Self.format(times[0])) s, max \(Self.format(times[times.count - 1])) s over \(cycles) cycles")

            let baseline = RulesBaseline(pool: pool, rules: loaded.rules, tenants: data.tenantIDs, now: now)
            let (sampled, sampleSeconds) = try await baseline.measure(sample: baselineSample)
            let pairs = loaded.rules.count * tenants
            let extrapolated = sampleSeconds / Double(sampled) * Double(pairs)
            print("baseline: one SQL query per rule and tenant: \(sampled) of \(pairs) pairs in \(Self.format(sampleSeconds)) s, "
                  + "\(Self.format(extrapolated)) s for all (extrapolated)")
            print("ratio: the monitor's cycle is \(Self.format(extrapolated / median))× faster than the baseline "
                  + "(target ≥ 10×); cycle \(median < 1 ? "under" : "OVER") 1 s")
        } catch {
            await pool.close()
            try? await cluster.stop()
            throw error
        }
        await pool.close()
        try await cluster.stop()
    }

    static func seconds(_ duration: Duration) -> String { format(duration.secondsValue) }

    static func format(_ value: Double) -> String { String(format: value < 10 ? "%.3f" : "%.1f", value) }
}
