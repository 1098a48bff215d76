import Dispatch

/// Runs blocking file-system work off Swift's cooperative thread pool.
enum BlockingIO {
    /// Runs `body` on `queue` and resumes the caller with its result.
    static func run<T: Sendable>(
        on queue: DispatchQueue, _ body: @escaping @Sendable () throws(StagingError) -> T
    ) async throws(StagingError) -> T {
        let result: Result<T, StagingError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result(catching: body)) }
        }
        return try result.get()
    }
}
