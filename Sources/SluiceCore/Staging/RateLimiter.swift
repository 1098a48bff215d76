import Synchronization

/// Per-key (for example, per-tenant or per-client-address) ``TokenBucket``s, created on demand.
public final class RateLimiter: Sendable {
    private struct Entry {
        let bytesPerSecond: Double
        let burst: Double
        let bucket: TokenBucket
    }

    private let clock: TokenBucket.Clock
    private let maximumKeys: Int
    private let entries = Mutex<[String: Entry]>([:])

    /// Creates a limiter whose buckets read `clock`. Past `maximumKeys` buckets, a new key first makes the
    /// limiter forget the buckets that refilled (a new bucket would be the same), then, if that is not
    /// enough, all of them: keys chosen by clients cannot grow it without bound.
    public init(clock: @escaping TokenBucket.Clock = TokenBucket.monotonicClock, maximumKeys: Int = 100_000) {
        self.clock = clock
        self.maximumKeys = maximumKeys
    }

    /// Nil if an upload for `key` may start now, else how long to wait. Creates the key's bucket
    /// (full) if needed, and replaces it if `rate` or `burst` changed.
    public func admit(key: String, rate: Double, burst: Double) -> Duration? {
        bucket(key: key, rate: rate, burst: burst).admit()
    }

    /// Charges `bytes` to `key`'s bucket; does nothing for a key never admitted.
    public func consume(key: String, bytes: Int) {
        entries.withLock { $0[key]?.bucket }?.consume(bytes)
    }

    /// Buckets held.
    public var count: Int { entries.withLock { $0.count } }

    /// Forgets the buckets of keys not in `kept` (tenants that no longer exist).
    public func retain(keys kept: Set<String>) {
        entries.withLock { entries in entries = entries.filter { kept.contains($0.key) } }
    }

    private func bucket(key: String, rate: Double, burst: Double) -> TokenBucket {
        entries.withLock { entries in
            if let entry = entries[key], entry.bytesPerSecond == rate, entry.burst == burst {
                return entry.bucket
            }
            if entries[key] == nil, entries.count >= maximumKeys {
                let now = clock()
                entries = entries.filter { !$0.value.bucket.isFull(now: now) }
                if entries.count >= maximumKeys { entries.removeAll(keepingCapacity: true) }
            }
            let bucket = TokenBucket(bytesPerSecond: rate, burst: burst, clock: clock)
            entries[key] = Entry(bytesPerSecond: rate, burst: burst, bucket: bucket)
            return bucket
        }
    }
}
