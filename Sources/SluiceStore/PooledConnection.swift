import Dispatch

/// A pool slot: one (lazily opened) connection and the serial queue every use of it runs on.
///
/// `@unchecked Sendable`: `connection` and `lastUsed` are mutated only by the task that currently
/// leases the slot from the pool, and only on `queue`; the pool's lock orders hand-overs between leases.
final class PooledConnection: @unchecked Sendable {
    let queue: DispatchQueue
    var connection: PostgresConnection?
    var lastUsed: ContinuousClock.Instant = .now

    init(id: Int) {
        self.queue = DispatchQueue(label: "sluice.store.connection.\(id)")
    }
}
