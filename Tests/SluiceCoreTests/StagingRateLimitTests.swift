import Synchronization
import Testing
@testable import SluiceCore

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let now = Mutex<Duration>(.seconds(1000))
    var clock: TokenBucket.Clock { { self.now.withLock { $0 } } }
    func advance(_ duration: Duration) { now.withLock { $0 += duration } }
}

@Suite("TokenBucket and RateLimiter")
struct StagingRateLimitTests {
    @Test func burstPassesThenWaitsThenRefills() {
        let time = ManualClock()
        let bucket = TokenBucket(bytesPerSecond: 1000, burst: 10_000, clock: time.clock)
        #expect(bucket.admit() == nil)
        bucket.consume(10_000)
        // Empty but not in debt: the next upload waits for one byte's worth of tokens.
        #expect(bucket.admit() == .milliseconds(1))
        time.advance(.milliseconds(1))
        #expect(bucket.admit() == nil)
        bucket.consume(5_001)
        #expect(bucket.admit() == .seconds(5))
        time.advance(.seconds(2))
        #expect(bucket.admit() == .seconds(3))
        time.advance(.seconds(3))
        #expect(bucket.admit() == .milliseconds(1))
        // Refill is capped at the burst size.
        time.advance(.seconds(3600))
        bucket.consume(10_000)
        #expect(bucket.admit() == .milliseconds(1))
    }

    @Test func explicitTimes() {
        let bucket = TokenBucket(bytesPerSecond: 100, burst: 1000, clock: { .zero })
        bucket.consume(3000, now: .zero)
        #expect(bucket.admit(now: .zero) == .seconds(20))
        #expect(bucket.admit(now: .seconds(19)) == .seconds(1))
        #expect(bucket.admit(now: .milliseconds(20_500)) == nil)
        // A clock that goes backwards does not refill.
        #expect(bucket.admit(now: .seconds(1)) == nil)
    }

    @Test func limiterKeepsBucketsPerKeyAndReplacesThemOnRateChanges() {
        let time = ManualClock()
        let limiter = RateLimiter(clock: time.clock)
        #expect(limiter.admit(key: "acme", rate: 100, burst: 1000) == nil)
        limiter.consume(key: "acme", bytes: 1500)
        #expect(limiter.admit(key: "acme", rate: 100, burst: 1000) == .seconds(5))
        #expect(limiter.admit(key: "globex", rate: 100, burst: 1000) == nil)
        limiter.consume(key: "unknown", bytes: 1_000_000)
        #expect(limiter.admit(key: "unknown", rate: 100, burst: 1000) == nil)
        // A new rate for acme starts a fresh, full bucket.
        #expect(limiter.admit(key: "acme", rate: 200, burst: 1000) == nil)
        limiter.consume(key: "acme", bytes: 1400)
        #expect(limiter.admit(key: "acme", rate: 200, burst: 1000) == .seconds(2))
        // Buckets of tenants that are gone are forgotten; the others are kept.
        limiter.consume(key: "globex", bytes: 1500)
        limiter.retain(keys: ["globex"])
        #expect(limiter.admit(key: "acme", rate: 200, burst: 1000) == nil)
        #expect(limiter.admit(key: "globex", rate: 100, burst: 1000) == .seconds(5))
    }

    @Test func concurrentConsumersAreAllCharged() async {
        let limiter = RateLimiter(clock: { .zero })
        _ = limiter.admit(key: "t", rate: 1, burst: 100)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { limiter.consume(key: "t", bytes: 10) } }
        }
        #expect(limiter.admit(key: "t", rate: 1, burst: 100) == .seconds(900))
    }
}
