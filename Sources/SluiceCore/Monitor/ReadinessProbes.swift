import Foundation
import Logging
import SluiceMetrics
import SluiceStore

/// Samples this process's readiness every interval into `sluice.readiness_probes`, the source of the
/// `readiness_availability` series, and into the `sluice_ready` gauge (what `/readyz` would answer).
public struct ReadinessProbes: Sendable {
    private let pool: PostgresConnectionPool
    private let readiness: Readiness
    private let instanceID: String
    private let ready: GaugeFamily
    private let logger: Logger

    public init(pool: PostgresConnectionPool, readiness: Readiness, instanceID: String, registry: MetricsRegistry, logger: Logger) {
        self.pool = pool
        self.readiness = readiness
        self.instanceID = instanceID
        ready = registry.gauge(name: "sluice_ready", help: "Whether this process is ready (1), as /readyz answers, sampled every probe interval.")
        self.logger = logger
    }

    /// Probes once and records the result at `time`.
    public func sample(at time: Date = Date()) async throws {
        let failing = await readiness.check().filter { !$0.ok }.map(\.name)
        ready.labels().set(failing.isEmpty ? 1 : 0)
        try await pool.execute("INSERT INTO sluice.readiness_probes (at, instance_id, ready, failing) VALUES ($1, $2, $3, $4)",
                               [.init(time), .init(instanceID), .init(failing.isEmpty), .init(failing.joined(separator: ","))])
    }

    /// Samples every `interval` until cancelled (a probe the store cannot take is not recorded: the
    /// store's own outage shows in the store's metrics).
    public func run(interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            do {
                try await sample()
            } catch {
                logger.debug("readiness probe not recorded", metadata: ["error": "\(error)"])
            }
        }
    }
}
