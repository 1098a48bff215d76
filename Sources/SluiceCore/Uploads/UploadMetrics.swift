import SluiceMetrics
import SluiceStore

/// Prometheus metrics of batch uploads and of what each tenant has staged.
public final class UploadMetrics: Sendable {
    private let uploads: CounterFamily
    private let bytes: CounterFamily
    private let duration: HistogramFamily
    private let stagedFiles: GaugeFamily
    private let storedBytes: GaugeFamily
    private let quotaRatio: GaugeFamily
    private let oldestWaiting: GaugeFamily
    private let registry: MetricsRegistry

    public init(registry: MetricsRegistry) {
        self.registry = registry
        uploads = registry.counter(name: "sluice_uploads_total",
                                   help: "Uploads by tenant and outcome: accepted, duplicate, or the rejection code.",
                                   labelNames: ["tenant", "outcome"])
        bytes = registry.counter(name: "sluice_upload_received_bytes_total",
                                 help: "Bytes of accepted uploads, by tenant.", labelNames: ["tenant"])
        duration = registry.histogram(name: "sluice_upload_duration_seconds",
                                      help: "Time to receive, check and stage one upload.",
                                      labelNames: ["tenant"], buckets: Buckets.exponential(start: 0.005, factor: 4, count: 9))
        stagedFiles = registry.gauge(name: "sluice_staged_files",
                                     help: "Files staged and not yet ingested (the tenant's queue depth).", labelNames: ["tenant"])
        storedBytes = registry.gauge(name: "sluice_staged_bytes",
                                     help: "Bytes of the tenant's files in staging (counted against its quota).",
                                     labelNames: ["tenant"])
        quotaRatio = registry.gauge(name: "sluice_storage_quota_usage_ratio",
                                    help: "Staged bytes divided by the tenant's storage quota.", labelNames: ["tenant"])
        oldestWaiting = registry.gauge(name: "sluice_ingest_queue_oldest_age_seconds",
                                       help: "Age of the tenant's oldest file waiting for ingestion (0 when none waits).",
                                       labelNames: ["tenant"])
    }

    func recordUpload(tenant: String, outcome: String, bytes received: Int64, seconds: Double) {
        uploads.labels(tenant, outcome).increment()
        if received > 0 { bytes.labels(tenant).increment(by: Double(received)) }
        duration.labels(tenant).observe(seconds)
    }

    /// Re-reads one tenant's staging usage from the ledger (after its uploads).
    public func refresh(tenant: String, pool: PostgresConnectionPool) async {
        guard let row = try? await pool.query(Self.usageQuery(where: "WHERE t.id = $1"), [.init(tenant)]).first else { return }
        set(tenant: tenant, from: row)
    }

    /// Re-reads every tenant's staging usage from the ledger (run periodically) and drops the series of
    /// tenants that no longer exist; returns the tenants that do, or `nil` when the store did not answer.
    @discardableResult
    public func refresh(pool: PostgresConnectionPool) async -> Set<String>? {
        // Only tenants with series before the query can be judged gone: one created meanwhile keeps its series.
        let labelled = registry.values(ofLabel: "tenant")
        guard let rows = try? await pool.query(Self.usageQuery(where: "")) else { return nil }
        var present = Set<String>()
        for row in rows {
            guard let tenant = try? row.decode(String.self, "id") else { continue }
            present.insert(tenant)
            set(tenant: tenant, from: row)
        }
        // Series exist only for tenants that exist: a deleted tenant's go with it, in every family.
        registry.removeSeries(whereLabel: "tenant", isIn: labelled.subtracting(present))
        return present
    }

    /// Each tenant's quota, files staged, bytes stored and the age of its oldest waiting file.
    private static func usageQuery(where condition: String) -> String {
        """
        SELECT t.id, (t.definition -> 'constraints' ->> 'storage_quota')::bigint AS quota,
               count(f.id) FILTER (WHERE f.state IN ('received', 'queued', 'ingesting'))::int AS staged,
               coalesce(sum(f.size) FILTER (WHERE f.state <> 'deleted'), 0)::bigint AS stored,
               coalesce(extract(epoch FROM now() - min(f.received_at) FILTER (WHERE f.state IN ('received', 'queued'))), 0)::float8 AS oldest
        FROM sluice.tenants t LEFT JOIN sluice.files f ON f.tenant_id = t.id \(condition) GROUP BY t.id
        """
    }

    /// Refreshes the staging gauges every `interval` until cancelled (usage changes through ingestion
    /// and retention too, not only through uploads), telling `tenantsPresent` which tenants exist.
    public func run(pool: PostgresConnectionPool, components: ComponentRegistry, interval: Duration = .seconds(5),
                    tenantsPresent: @Sendable (Set<String>) -> Void = { _ in }) async {
        let name = "staging-metrics"
        components.setRunning(name, true)
        defer { components.setRunning(name, false) }
        while !Task.isCancelled {
            if let present = await refresh(pool: pool) { tenantsPresent(present) }
            try? await Task.sleep(for: interval)
        }
    }

    private func set(tenant: String, from row: PostgresRow) {
        let stored = (try? row.decode(Int64.self, "stored")) ?? 0, quota = (try? row.decode(Int64.self, "quota")) ?? 0
        stagedFiles.labels(tenant).set(Double((try? row.decode(Int.self, "staged")) ?? 0))
        storedBytes.labels(tenant).set(Double(stored))
        quotaRatio.labels(tenant).set(quota > 0 ? Double(stored) / Double(quota) : 0)
        oldestWaiting.labels(tenant).set((try? row.decode(Double.self, "oldest")) ?? 0)
    }
}
