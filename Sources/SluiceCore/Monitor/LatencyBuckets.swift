/// The fixed latency buckets of the report time series: every report counts its latencies as "at most
/// this many seconds" per bound (cumulative, like a Prometheus histogram's `le`), so percentiles and
/// latency objectives can be computed over any window from sums alone.
///
/// The bounds name columns of `sluice.report_minutes`: never change them, only add a migration.
public enum LatencyBuckets {
    /// Upper bounds in seconds, ascending. A latency objective's threshold must be one of them.
    public static let bounds: [Double] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
    ]

    /// The column of `bound`'s cumulative count, e.g. `le_2500ms`.
    static func column(_ bound: Double) -> String {
        "le_\(Int((bound * 1000).rounded()))ms"
    }

    /// The `q` quantile (0...1) of a distribution given by cumulative `counts` per bound and its `total`,
    /// interpolated linearly inside the bucket as Prometheus's `histogram_quantile` does; the largest
    /// bound if it lies beyond it, nil without events.
    static func quantile(_ q: Double, counts: [Int64], total: Int64) -> Double? {
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var lowerBound = 0.0
        var lowerCount = 0.0
        for (index, bound) in bounds.enumerated() {
            let count = Double(counts[index])
            if count >= rank {
                let inBucket = count - lowerCount
                return inBucket > 0 ? lowerBound + (bound - lowerBound) * (rank - lowerCount) / inBucket : bound
            }
            lowerBound = bound
            lowerCount = count
        }
        return bounds.last
    }
}
