import Synchronization

/// Recent answers of API-key lookups, so a request with a key seen in the last few seconds costs no store
/// query: every wrong key cost one before (4,680 wrong-key requests a second, each a query).
///
/// Keys are held only as their hashes. Both answers are kept for `timeToLive`: a key's tenant, and that a
/// key belongs to no tenant. Rotating or deleting a tenant drops its entries in this process at once;
/// another process sharing the store may accept a replaced key for up to `timeToLive`. A valid key is
/// remembered as recently valid for `rememberValid` after that, so the failed-authentication limit of its
/// client's address does not keep it out when its answer is looked up again.
public final class APIKeyCache: Sendable {
    public struct Configuration: Sendable {
        public var timeToLive: Duration
        public var rememberValid: Duration
        /// Entries at most; when full, forgotten entries are dropped, and if none are, all are.
        public var capacity: Int

        public init(timeToLive: Duration = .seconds(5), rememberValid: Duration = .seconds(600), capacity: Int = 10_000) {
            self.timeToLive = timeToLive
            self.rememberValid = rememberValid
            self.capacity = capacity
        }
    }

    /// What the cache knows of a key.
    public enum Answer: Sendable, Equatable {
        /// The key's tenant, or `nil`: it belongs to none.
        case known(String?)
        /// The key was valid a while ago; only the store can tell whether it still is.
        case recentlyValid
        case unknown
    }

    private struct Entry {
        let tenant: String?
        let expires: ContinuousClock.Instant
        /// Until when an expired valid key counts as recently valid.
        let remembered: ContinuousClock.Instant
    }

    public let configuration: Configuration
    private let entries = Mutex<[String: Entry]>([:])

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// What is known of the key with `hash`.
    func lookup(hash: String) -> Answer {
        entries.withLock { entries in
            guard let entry = entries[hash] else { return .unknown }
            let now = ContinuousClock.now
            if entry.expires > now { return .known(entry.tenant) }
            guard entry.tenant != nil, entry.remembered > now else {
                entries[hash] = nil
                return .unknown
            }
            return .recentlyValid
        }
    }

    func store(hash: String, tenant: String?) {
        let now = ContinuousClock.now
        let entry = Entry(tenant: tenant, expires: now + configuration.timeToLive,
                          remembered: now + configuration.timeToLive + (tenant == nil ? .zero : configuration.rememberValid))
        entries.withLock { entries in
            if entries.count >= configuration.capacity, entries[hash] == nil {
                entries = entries.filter { $0.value.remembered > now }
                if entries.count >= configuration.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[hash] = entry
        }
    }

    /// Drops what is known about `tenant`'s keys (they were rotated, or the tenant deleted).
    func forget(tenant: String) {
        entries.withLock { entries in entries = entries.filter { $0.value.tenant != tenant } }
    }

}
