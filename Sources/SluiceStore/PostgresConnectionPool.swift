import SluiceCommon
import Dispatch
import Logging
import Synchronization

/// A bounded pool of ``PostgresConnection``s with an async API.
///
/// Connections open lazily, up to `maximumConnections`. Every borrowed connection runs the caller's
/// body on that connection's own serial dispatch queue, never on Swift's cooperative thread pool.
/// Before a connection is handed out, input the server already sent is consumed without blocking (so a
/// connection closed by a server restart is noticed) and, after a long idle period, it is pinged; a dead
/// connection is re-established transparently. A connection still broken after its use is discarded.
/// Waiters are served first-in first-out and fail with `pool_timeout` after `acquireTimeout`.
public final class PostgresConnectionPool: Sendable {
    /// Pool options.
    public struct Configuration: Sendable {
        /// Upper bound on open connections.
        public var maximumConnections: Int
        /// How long a caller waits for a free connection before failing with `pool_timeout`.
        public var acquireTimeout: Duration
        /// A connection idle for longer than this is pinged (`SELECT 1`) before it is handed out.
        public var healthCheckInterval: Duration
        /// Logger for pool and connection events (label `sluice.store` by default).
        public var logger: Logger
        /// Called for every failed query, command or COPY on any pooled connection.
        public var onQueryError: (@Sendable (PostgresError) -> Void)?
        /// Every connection's `lock_timeout` (see ``PostgresConnection/Configuration/lockTimeout``).
        public var lockTimeout: Duration?
        /// Connections client work (see ``isClientWork``) can never hold: kept for the service's own
        /// work (heartbeats, leases, claims, ingests), so no flood of requests can starve it.
        public var reservedForServiceWork: Int

        public init(
            maximumConnections: Int = 10,
            acquireTimeout: Duration = .seconds(30),
            healthCheckInterval: Duration = .seconds(30),
            logger: Logger = Logger(label: "sluice.store"),
            onQueryError: (@Sendable (PostgresError) -> Void)? = nil,
            lockTimeout: Duration? = nil,
            reservedForServiceWork: Int = 0
        ) {
            self.lockTimeout = lockTimeout
            self.reservedForServiceWork = min(max(0, reservedForServiceWork), max(1, maximumConnections) - 1)
            self.maximumConnections = max(1, maximumConnections)
            self.acquireTimeout = acquireTimeout
            self.healthCheckInterval = healthCheckInterval
            self.logger = logger
            self.onQueryError = onQueryError
        }
    }

    /// A snapshot of the pool's occupancy.
    public struct Statistics: Sendable, Hashable {
        /// Open connections (including ones being opened).
        public var size: Int
        /// Connections currently lent out.
        public var inUse: Int
        /// Open connections waiting to be borrowed.
        public var idle: Int
        /// Callers waiting for a connection.
        public var waiters: Int

        public init(size: Int = 0, inUse: Int = 0, idle: Int = 0, waiters: Int = 0) {
            self.size = size
            self.inUse = inUse
            self.idle = idle
            self.waiters = waiters
        }
    }

    /// Whether the current task works for a client request (the API sets it for its handlers): such work
    /// waits rather than take one of the ``Configuration/reservedForServiceWork`` connections.
    @TaskLocal public static var isClientWork = false

    private struct Waiter {
        let id: UInt64
        let isClient: Bool
        let continuation: CheckedContinuation<PooledConnection, any Error>
    }

    private struct State {
        var idle: [PooledConnection] = []
        var size = 0
        var inUse = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var isClosed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []

        /// The next waiter a freed connection may go to: service work first; client work only while fewer than
        /// `clientLimit` connections are in use besides the freed one.
        mutating func nextWaiter(inUseBesides inUseOthers: Int, clientLimit: Int) -> Waiter? {
            if let index = waiters.firstIndex(where: { !$0.isClient }) { return waiters.remove(at: index) }
            guard inUseOthers < clientLimit, let index = waiters.firstIndex(where: \.isClient) else { return nil }
            return waiters.remove(at: index)
        }

        mutating func makeSlot() -> PooledConnection {
            nextID += 1
            size += 1
            inUse += 1
            return PooledConnection(id: Int(nextID))
        }
    }

    /// The libpq conninfo string or URL every connection uses.
    public let connectionString: String
    /// The pool's options.
    public let configuration: Configuration
    private let state = Mutex(State())

    public init(connectionString: String, configuration: Configuration = Configuration()) {
        self.connectionString = connectionString
        self.configuration = configuration
    }

    /// Current occupancy.
    public var statistics: Statistics {
        state.withLock {
            Statistics(size: $0.size, inUse: $0.inUse, idle: $0.idle.count, waiters: $0.waiters.count)
        }
    }

    /// Borrows a connection and runs `body` with it on the connection's dedicated queue.
    @discardableResult
    public func withConnection<T: Sendable>(
        _ body: @Sendable @escaping (PostgresConnection) throws -> T
    ) async throws -> T {
        let slot = try await acquire()
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                let result: Result<T, any Error>
                do {
                    let connection = try self.prepare(slot)
                    result = Result { try body(connection) }
                } catch {
                    result = .failure(error)
                }
                slot.lastUsed = .now
                self.release(slot)
                continuation.resume(with: result)
            }
        }
    }

    /// Borrows a connection and runs `body` inside a transaction (see ``PostgresConnection/withTransaction(_:)``).
    @discardableResult
    public func withTransaction<T: Sendable>(
        _ body: @Sendable @escaping (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { try $0.withTransaction(body) }
    }

    /// Runs one statement on a pooled connection and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresRows {
        try await withConnection { try $0.query(sql, parameters) }
    }

    /// Runs one statement on a pooled connection and returns the affected row count.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await withConnection { try $0.execute(sql, parameters) }
    }

    /// Stops lending connections, fails queued waiters with `pool_closed`, waits until every borrowed
    /// connection is returned, then closes all connections.
    public func close() async {
        let (waiters, idle) = state.withLock { state in
            state.isClosed = true
            let taken = (state.waiters, state.idle)
            state.waiters = []
            state.idle = []
            state.size -= taken.1.count
            return taken
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(code: .poolClosed, message: "connection pool is closed"))
        }
        for slot in idle {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                slot.queue.async {
                    slot.connection?.close()
                    continuation.resume()
                }
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state in
                if state.inUse == 0 { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if drained { continuation.resume() }
        }
        configuration.logger.debug("connection pool closed")
    }

    /// Connections client work may hold at once.
    private var clientLimit: Int { configuration.maximumConnections - configuration.reservedForServiceWork }

    private func acquire() async throws -> PooledConnection {
        let isClient = Self.isClientWork
        return try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<PooledConnection, any Error>? = state.withLock { state in
                if state.isClosed {
                    return .failure(PostgresError(code: .poolClosed, message: "connection pool is closed"))
                }
                if !isClient || state.inUse < clientLimit {
                    if let slot = state.idle.popLast() {
                        state.inUse += 1
                        return .success(slot)
                    }
                    if state.size < configuration.maximumConnections {
                        return .success(state.makeSlot())
                    }
                }
                state.nextID += 1
                let id = state.nextID
                state.waiters.append(Waiter(id: id, isClient: isClient, continuation: continuation))
                DispatchQueue.global().asyncAfter(deadline: .now() + configuration.acquireTimeout.secondsValue) {
                    self.timeOut(waiter: id)
                }
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    private func timeOut(waiter id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(
            throwing: PostgresError(
                code: .poolTimeout,
                message: "no connection available within \(configuration.acquireTimeout)"
                    + " (maximumConnections: \(configuration.maximumConnections))"))
    }

    /// Opens, revives or health-checks the slot's connection. Runs on the slot's queue.
    private func prepare(_ slot: PooledConnection) throws -> PostgresConnection {
        guard let connection = slot.connection else {
            let connection = try PostgresConnection(
                connectionString: connectionString,
                configuration: .init(logger: configuration.logger, onQueryError: configuration.onQueryError,
                                     lockTimeout: configuration.lockTimeout))
            slot.connection = connection
            return connection
        }
        if !connection.pollConnection() {
            configuration.logger.info("postgres connection lost; reconnecting")
            try connection.reset()
        } else if ContinuousClock.now - slot.lastUsed > configuration.healthCheckInterval, !connection.isHealthy {
            configuration.logger.info("idle postgres connection failed its health check; reconnecting")
            try connection.reset()
        }
        return connection
    }

    /// Returns a slot: hands it to the next waiter, parks it idle, or discards it if its connection is broken.
    private func release(_ slot: PooledConnection) {
        let isUsable = slot.connection?.isConnected ?? false
        var handOver: (Waiter, PooledConnection)?
        var discard = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        state.withLock { state in
            if !isUsable || state.isClosed {
                discard = true
                state.size -= 1
                state.inUse -= 1
                if !state.isClosed, state.size < configuration.maximumConnections,
                   let waiter = state.nextWaiter(inUseBesides: state.inUse, clientLimit: clientLimit) {
                    handOver = (waiter, state.makeSlot())
                }
            } else if let waiter = state.nextWaiter(inUseBesides: state.inUse - 1, clientLimit: clientLimit) {
                handOver = (waiter, slot)
            } else {
                state.inUse -= 1
                state.idle.append(slot)
            }
            if state.isClosed, state.inUse == 0 {
                closeWaiters = state.closeWaiters
                state.closeWaiters = []
            }
        }
        if discard {
            slot.connection?.close()
            slot.connection = nil
        }
        if let (waiter, next) = handOver { waiter.continuation.resume(returning: next) }
        closeWaiters.forEach { $0.resume() }
    }
}
