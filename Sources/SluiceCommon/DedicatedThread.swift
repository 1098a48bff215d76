import Foundation

/// Runs blocking work on a new dedicated thread and awaits its result, keeping it off the
/// cooperative thread pool.
public func runOnDedicatedThread<T: Sendable>(
    name: String, _ work: @Sendable @escaping () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = name
        thread.start()
    }
}
