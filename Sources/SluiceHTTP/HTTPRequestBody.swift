import Synchronization

/// A request body delivered as a stream of chunks, in arrival order, with backpressure: when the
/// consumer falls behind, the transport stops reading from the socket until the buffer drains.
///
/// Consume it once, with `for try await chunk in body` or `collect(upTo:)`. Reading fails with
/// ``HTTPBodyError`` when the client goes away mid-upload.
public final class HTTPRequestBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var bufferedBytes = 0
        var finished = false
        var failure: HTTPBodyError?
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
        var producerPaused = false
        var abandoned = false
    }

    private let state = Mutex(State())
    private let highWaterMark: Int
    private let onDrain: @Sendable () -> Void

    /// - Parameters:
    ///   - highWaterMark: buffered bytes at which the producer is asked to pause.
    ///   - onDrain: called (outside any lock) when a paused producer may continue.
    init(highWaterMark: Int, onDrain: @escaping @Sendable () -> Void) {
        self.highWaterMark = highWaterMark
        self.onDrain = onDrain
    }

    /// A body that is already complete, for requests without one and for tests.
    public static func empty() -> HTTPRequestBody {
        let body = HTTPRequestBody(highWaterMark: .max, onDrain: {})
        body.finish()
        return body
    }

    // MARK: Producer side (the transport)

    /// Delivers a chunk. Returns `true` when the producer should pause until `onDrain` is called.
    func push(_ chunk: [UInt8]) -> Bool {
        let (waiter, pause): (CheckedContinuation<[UInt8]?, any Error>?, Bool) = state.withLock { state in
            if state.abandoned || state.finished { return (nil, false) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, false)
            }
            state.chunks.append(chunk)
            state.bufferedBytes += chunk.count
            let pause = state.bufferedBytes >= highWaterMark
            if pause { state.producerPaused = true }
            return (nil, pause)
        }
        waiter?.resume(returning: chunk)
        return pause
    }

    /// Marks the end of the body.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Ends the body with an error (client disconnect, timeout, shutdown).
    func fail(_ error: HTTPBodyError) {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            state.failure = error
            state.chunks = []
            state.bufferedBytes = 0
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: error)
    }

    /// The handler answered before reading everything: drop what is buffered and whatever still arrives.
    func abandon() {
        let resume = state.withLock { state -> Bool in
            state.abandoned = true
            state.chunks = []
            state.bufferedBytes = 0
            defer { state.producerPaused = false }
            return state.producerPaused
        }
        if resume { onDrain() }
    }

    // MARK: Consumer side (the handler)

    func next() async throws -> [UInt8]? {
        if let value = try deliver(state.withLock { Self.take(&$0) }) { return value }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let taken = state.withLock { state -> Take in
                    let taken = Self.take(&state)
                    guard case .wait = taken else { return taken }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return .wait
                }
                do {
                    if let value = try deliver(taken) { continuation.resume(returning: value) }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private enum Take {
        case chunk([UInt8]?, resumeProducer: Bool)
        case failure(any Error)
        case wait
    }

    /// Takes the next buffered chunk, the end, or the failure; `.wait` when nothing is there yet.
    private static func take(_ state: inout State) -> Take {
        if state.head < state.chunks.count {
            let chunk = state.chunks[state.head]
            state.head += 1
            state.bufferedBytes -= chunk.count
            if state.head == state.chunks.count {
                state.chunks.removeAll(keepingCapacity: true)
                state.head = 0
            }
            let resume = state.producerPaused && state.bufferedBytes == 0
            if resume { state.producerPaused = false }
            return .chunk(chunk, resumeProducer: resume)
        }
        if let failure = state.failure { return .failure(failure) }
        if state.finished { return .chunk(nil, resumeProducer: false) }
        return .wait
    }

    /// Acts on a `Take` outside the lock: `nil` means wait (or the end of the body for `.chunk(nil)`).
    private func deliver(_ taken: Take) throws -> [UInt8]?? {
        switch taken {
        case .chunk(let chunk, let resumeProducer):
            if resumeProducer { onDrain() }
            return .some(chunk)
        case .failure(let error):
            throw error
        case .wait:
            return nil
        }
    }

    /// Reads the whole body into memory, refusing bodies larger than `limit` bytes with 413.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in self {
            guard bytes.count + chunk.count <= limit else {
                throw HTTPError(status: 413, code: "body_too_large", message: "request body exceeds \(limit) bytes")
            }
            bytes += chunk
        }
        return bytes
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: HTTPRequestBody
        public mutating func next() async throws -> [UInt8]? { try await body.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}

/// Why a request body ended before it was complete.
public struct HTTPBodyError: Error, Sendable, CustomStringConvertible {
    /// `client_disconnected`, `timeout` or `shutting_down`.
    public let code: String
    public var description: String { "request body incomplete: \(code)" }
}
