import Synchronization

/// A byte-rate limiter for uploads that may go into debt.
///
/// The bucket starts full with `burst` tokens and refills at `bytesPerSecond`. An upload may start
/// while the balance is positive (``admit(now:)``) and then ``consume(_:now:)``s its actual size,
/// possibly driving the balance negative: a burst-sized upload passes, later ones wait until the
/// debt is repaid. Times are durations since an arbitrary fixed origin, supplied by the `clock`.
public final class TokenBucket: Sendable {
    /// Returns the current time as a duration since a fixed origin.
    public typealias Clock = @Sendable () -> Duration

    private static let origin = ContinuousClock.now
    /// The process's monotonic clock.
    public static let monotonicClock: Clock = { ContinuousClock.now - origin }

    /// The refill rate.
    public let bytesPerSecond: Double
    /// The capacity.
    public let burst: Double
    private let clock: Clock
    private let state: Mutex<TokenBalance>

    /// Creates a full bucket; `bytesPerSecond` and `burst` must be positive.
    public init(bytesPerSecond: Double, burst: Double, clock: @escaping Clock = TokenBucket.monotonicClock) {
        self.bytesPerSecond = bytesPerSecond
        self.burst = burst
        self.clock = clock
        self.state = Mutex(TokenBalance(rate: bytesPerSecond, burst: burst, now: clock()))
    }

    /// Nil if an upload may start now, else how long to wait (for `Retry-After`).
    public func admit(now: Duration) -> Duration? {
        state.withLock { state in
            state.refill(now: now)
            guard state.tokens <= 0 else { return nil }
            // Wait until the balance is positive again, at least the time it takes to earn one byte.
            return .seconds(max(-state.tokens, 1) / bytesPerSecond)
        }
    }

    /// ``admit(now:)`` at the clock's current time.
    public func admit() -> Duration? {
        admit(now: clock())
    }

    /// Takes `bytes` tokens, going into debt if there are not enough.
    public func consume(_ bytes: Int, now: Duration) {
        state.withLock { $0.consume(bytes, now: now) }
    }

    /// ``consume(_:now:)`` at the clock's current time.
    public func consume(_ bytes: Int) {
        consume(bytes, now: clock())
    }

    /// Whether the bucket has refilled completely (it then behaves as a new one).
    public func isFull(now: Duration) -> Bool {
        state.withLock { state in
            state.refill(now: now)
            return state.tokens >= burst
        }
    }
}
