import SluiceMetrics
import SluiceStore

/// Prometheus metrics of the PostgreSQL connection pool and of failed queries.
public struct StoreMetrics: Sendable {
    private let queryErrors: CounterFamily

    public init(registry: MetricsRegistry) {
        queryErrors = registry.counter(name: "sluice_store_query_errors_total",
                                       help: "Failed store queries, by SQLSTATE class (\"none\" when the server sent none).",
                                       labelNames: ["sqlstate_class"])
        // The classes the runbook names start at 0, so their rates exist before the first error.
        for sqlStateClass in ["08", "23", "40", "53", "57", "XX"] { _ = queryErrors.labels(sqlStateClass) }
    }

    /// Counts a failed query; pass as the pool's `onQueryError`.
    public func record(_ error: PostgresError) {
        queryErrors.labels(error.sqlStateClass ?? "none").increment()
    }

    /// Exports the pool's state at every scrape.
    public func observe(_ pool: PostgresConnectionPool, in registry: MetricsRegistry) {
        let size = registry.gauge(name: "sluice_store_pool_connections", help: "Open connections in the store pool.")
        let inUse = registry.gauge(name: "sluice_store_pool_connections_in_use", help: "Store connections lent out.")
        let waiters = registry.gauge(name: "sluice_store_pool_waiters", help: "Tasks waiting for a store connection.")
        let maximum = registry.gauge(name: "sluice_store_pool_max_connections", help: "Upper bound of the store pool.")
        registry.addCollector {
            let statistics = pool.statistics
            size.labels().set(Double(statistics.size))
            inUse.labels().set(Double(statistics.inUse))
            waiters.labels().set(Double(statistics.waiters))
            maximum.labels().set(Double(pool.configuration.maximumConnections))
        }
    }
}
