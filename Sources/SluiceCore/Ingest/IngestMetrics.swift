import SluiceMetrics

/// Prometheus metrics of batch ingestion. Every file's rows add up: read = ingested + rejected.
public struct IngestMetrics: Sendable {
    private let files: CounterFamily
    private let rowsIngested: CounterFamily
    private let rowsRejected: CounterFamily
    private let bytes: CounterFamily
    private let duration: HistogramFamily
    private let latency: HistogramFamily
    private let busy: GaugeFamily
    private let appRuns: CounterFamily
    private let duringUpload: CounterFamily

    public init(registry: MetricsRegistry) {
        files = registry.counter(name: "sluice_ingest_files_total", help: "Files ingested, by tenant and outcome.",
                                 labelNames: ["tenant", "outcome"])
        rowsIngested = registry.counter(name: "sluice_ingest_rows_total", help: "Rows loaded into tenant tables.",
                                        labelNames: ["tenant"])
        rowsRejected = registry.counter(name: "sluice_ingest_rejected_rows_total", help: "Rows rejected, by tenant and reason.",
                                        labelNames: ["tenant", "reason"])
        bytes = registry.counter(name: "sluice_ingest_bytes_total", help: "Bytes of files ingested, by tenant.",
                                 labelNames: ["tenant"])
        let buckets = Buckets.exponential(start: 0.01, factor: 4, count: 10)
        duration = registry.histogram(name: "sluice_ingest_duration_seconds", help: "Time to ingest one file.",
                                      labelNames: ["tenant"], buckets: buckets)
        latency = registry.histogram(name: "sluice_ingest_latency_seconds",
                                     help: "End-to-end latency of a file: received to committed.",
                                     labelNames: ["tenant"], buckets: buckets)
        busy = registry.gauge(name: "sluice_ingest_busy_workers", help: "Ingest workers holding a file.")
        appRuns = registry.counter(name: "sluice_ingest_app_runs_total",
                                   help: "Runs of tenants' external ingest apps, by outcome (ok, failed, timeout, killed).",
                                   labelNames: ["tenant", "outcome"])
        duringUpload = registry.counter(
            name: "sluice_ingest_during_upload_total",
            help: "Uploads ingested as they arrived, by outcome: finished (the file succeeded, was partial or failed); "
                + "abandoned (the upload failed, stalled, took too long, was a duplicate or queued behind other files, or the "
                + "ingest stopped before the upload ended); requeued (shutdown or a transient store error after it ended).",
            labelNames: ["tenant", "outcome"])
    }

    func ingestedDuringUpload(tenant: String, outcome: String) {
        duringUpload.labels(tenant, outcome).increment()
    }

    func busyWorkers(_ change: Double) {
        busy.labels().increment(by: change)
    }

    func record(tenant: String, outcome: FileIngestor.Outcome, bytes size: Int64, seconds: Double, latency endToEnd: Double) {
        files.labels(tenant, outcome.state).increment()
        if outcome.rowsIngested > 0 { rowsIngested.labels(tenant).increment(by: Double(outcome.rowsIngested)) }
        for (reason, count) in outcome.rejectedByReason { rowsRejected.labels(tenant, reason).increment(by: Double(count)) }
        bytes.labels(tenant).increment(by: Double(size))
        duration.labels(tenant).observe(seconds)
        latency.labels(tenant).observe(endToEnd)
        if let run = outcome.appRun { appRuns.labels(tenant, run).increment() }
    }
}
