import Foundation
import SluiceCommon

/// How a receiver retries a delivery: exponential backoff with full jitter, a server's `Retry-After` honoured,
/// all within one deadline (then the delivery fails and is counted).
public struct RetryPolicy: Sendable, Equatable {
    public var initialBackoff: Duration = .milliseconds(500)
    public var maximumBackoff: Duration = .seconds(30)
    public var multiplier = 2.0
    /// From the first attempt: no attempt starts after it.
    public var deadline: Duration = .seconds(300)

    public init() {}

    /// The wait before attempt `attempt + 1` (attempts count from 1): a random time up to the exponential
    /// backoff, or the server's `retryAfter` when it asks for longer.
    func delay(after attempt: Int, retryAfter: Duration?, random: inout some RandomNumberGenerator) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let ceiling = min(maximumBackoff.secondsValue, initialBackoff.secondsValue * pow(multiplier, exponent))
        let jittered = Duration.milliseconds(Int(Double.random(in: 0...ceiling, using: &random) * 1000))
        guard let retryAfter else { return jittered }
        return max(jittered, retryAfter)
    }

    /// Whether an answer or a failure is worth another attempt: connection failures, timeouts, `408`, `429` and
    /// `5xx` are, and a mail server's `4xx` reply; any other `4xx`, a bad URL, a refused certificate or a mail
    /// server's `5xx` are not.
    static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }

    static func isRetryable(_ error: OutboundError) -> Bool {
        error.code == .connectionFailed || error.code == .timedOut || error.code == .deferred
    }

    /// A `Retry-After` in seconds (an HTTP date is not honoured: the backoff stands).
    static func retryAfter(_ header: String?) -> Duration? {
        guard let header, let seconds = Int(header.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(min(seconds, 3600))
    }
}
