/// The arithmetic of a token bucket, as a value: `tokens` refill at `rate` per second up to `burst`.
/// Owners keep it behind their own lock (``TokenBucket`` for uploads, a tenant's stream state for messages).
struct TokenBalance: Sendable {
    private(set) var tokens: Double
    private var updated: Duration
    private(set) var rate: Double
    private(set) var burst: Double

    /// A full bucket; `rate` and `burst` must be positive.
    init(rate: Double, burst: Double, now: Duration) {
        precondition(rate > 0 && burst > 0, "a token bucket needs a positive rate and burst")
        self.tokens = burst
        self.updated = now
        self.rate = rate
        self.burst = burst
    }

    mutating func refill(now: Duration) {
        guard now > updated else { return }
        tokens = min(burst, tokens + (now - updated).secondsValue * rate)
        updated = now
    }

    /// Takes `count` tokens if the bucket holds them (or, for more than `burst`, if it is full: the balance
    /// then goes into debt); else takes nothing and returns how long until it would succeed.
    mutating func take(_ count: Int, now: Duration) -> Duration? {
        refill(now: now)
        let needed = min(Double(count), burst)
        guard tokens >= needed else { return .seconds((needed - tokens) / rate) }
        tokens -= Double(count)
        return nil
    }

    /// Takes `count` tokens whatever the balance, going into debt if there are not enough.
    mutating func consume(_ count: Int, now: Duration) {
        refill(now: now)
        tokens -= Double(count)
    }

    /// Changes the rate and burst from now on, keeping at most the new burst.
    mutating func reconfigure(rate: Double, burst: Double, now: Duration) {
        precondition(rate > 0 && burst > 0, "a token bucket needs a positive rate and burst")
        refill(now: now)
        self.rate = rate
        self.burst = burst
        tokens = min(tokens, burst)
    }
}
