import Synchronization

/// Recent answers of API-key lookups, so a request with a key seen in the last few seconds costs no store
/// query: every wrong key cost one before (4,680 wrong-key requests a second, each a query).
///
/// Keys are held only as their hashes. Both answers are kept for `timeToLive`: a key's tenant, and that a
/// key belongs to no tenant. Rotating or deleting a tenant drops its entries in this process at once;
/// another process sharing the store may accept a replaced key for up to `timeToLive`.
public final class APIKeyCache: Sendable {
    public struct Configuration: Sendable {
        public var timeToLive: Duration
        /// Entries at most; when full, expired entries are dropped, and if none are, all are.
        public var capacity: Int

        public init(timeToLive: Duration = .seconds(5), capacity: Int = 10_000) {
            self.timeToLive = timeToLive
            self.capacity = capacity
        }
    }

    private struct Entry {
        let tenant: String?
        let expires: ContinuousClock.Instant
    }

    public let configuration: Configuration
    private let entries = Mutex<[String: Entry]>([:])

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// The cached answer for the key with `hash`: `.some(tenant)` (`nil` for no tenant), or `nil` if unknown.
    func lookup(hash: String) -> String?? {
        entries.withLock { entries in
            guard let entry = entries[hash] else { return nil }
            guard entry.expires > .now else {
                entries[hash] = nil
                return nil
            }
            return .some(entry.tenant)
        }
    }

    func store(hash: String, tenant: String?) {
        let expires = ContinuousClock.now + configuration.timeToLive
        entries.withLock { entries in
            if entries.count >= configuration.capacity, entries[hash] == nil {
                let now = ContinuousClock.now
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= configuration.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[hash] = Entry(tenant: tenant, expires: expires)
        }
    }

    /// Drops what is known about `tenant`'s keys (they were rotated, or the tenant deleted).
    func forget(tenant: String) {
        entries.withLock { entries in entries = entries.filter { $0.value.tenant != tenant } }
    }

    /// Entries held (expired ones included until they are looked up or swept).
    var count: Int { entries.withLock { $0.count } }
}
