import SluiceCompression
import Synchronization

/// The body of a streamed response (``HTTPResponse/streaming(status:headers:_:)``), written by its producer while
/// the transport sends it: chunked, gzip'd when the client accepts it, in memory bounded by a high-water mark
/// whatever the body's size. ``write(_:)`` waits while the client is behind and throws ``HTTPResponseAborted`` once
/// it is gone (or the server shuts down), so a producer stops at once.
public final class HTTPResponseBodyWriter: Sendable {
    private struct State {
        var pending: [UInt8] = []
        /// Bytes of `pending` already handed to the transport.
        var offset = 0
        var finished = false
        var failure: HTTPResponseAborted?
        /// The producer, waiting for the transport to take what is pending.
        var drained: CheckedContinuation<Void, any Error>?
        var sent = 0
    }

    /// What the transport gets when it asks for more.
    enum Read: Equatable {
        case bytes(Int)
        /// Nothing yet: the transport suspends the connection until ``write(_:)`` wakes it.
        case wait
        case end
        case failed
    }

    private let state = Mutex(State())
    private let encoder: Mutex<GzipEncoder?>
    private let highWaterMark: Int
    private let wake: @Sendable () -> Void

    init(gzip: Bool, highWaterMark: Int = 256 * 1024, wake: @escaping @Sendable () -> Void) {
        let encoder = gzip ? try? GzipEncoder(configuration: .init(level: 6)) : nil
        // A body announced as gzip'd is never sent plain: without an encoder (zlib out of memory) it fails.
        if gzip && encoder == nil { state.withLock { $0.failure = HTTPResponseAborted(code: "gzip_unavailable") } }
        self.encoder = Mutex(encoder)
        self.highWaterMark = highWaterMark
        self.wake = wake
    }

    /// Appends `bytes` to the body, a high-water mark at a time, each time returning only once the client is no
    /// more than the mark behind. One producer writes, one write at a time.
    public func write(_ bytes: [UInt8]) async throws {
        var start = 0
        repeat {
            let end = min(bytes.count, start + highWaterMark)
            let slice = bytes[start..<end]
            let output = try encoder.withLock { encoder -> [UInt8] in
                guard let encoder else { return Array(slice) }
                var output: [UInt8] = []
                try encoder.encode(slice) { output += $0 }
                return output
            }
            try append(output)
            try await drained()
            start = end
        } while start < bytes.count
    }

    /// Waits until the client is no more than the high-water mark behind.
    private func drained() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: Result<Void, any Error>? = state.withLock { state in
                    if let failure = state.failure { return .failure(failure) }
                    guard state.pending.count - state.offset > highWaterMark else { return .success(()) }
                    precondition(state.drained == nil, "HTTPResponseBodyWriter.write called while another write waits")
                    state.drained = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            fail(HTTPResponseAborted(code: "cancelled"))
        }
    }

    /// Bytes handed to the transport so far.
    var bytesSent: Int { state.withLock { $0.sent } }

    /// Ends the body (with the gzip trailer, when compressed).
    func finish() {
        let trailer = encoder.withLock { encoder -> [UInt8] in
            var output: [UInt8] = []
            try? encoder?.finish { output += $0 }
            return output
        }
        try? append(trailer)
        state.withLock { $0.finished = true }
        wake()
    }

    /// Aborts the body: the transport closes the connection without ending it, and the producer's next write throws.
    func fail(_ failure: HTTPResponseAborted) {
        let drained = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.finished, state.failure == nil else { return nil }
            state.failure = failure
            defer { state.drained = nil }
            return state.drained
        }
        drained?.resume(throwing: failure)
        wake()
    }

    /// Copies what is pending into `buffer` (the transport's, on its thread).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Read {
        let (read, drained) = state.withLock { state -> (Read, CheckedContinuation<Void, any Error>?) in
            if state.failure != nil { return (.failed, nil) }
            let available = state.pending.count - state.offset
            guard available > 0 else { return (state.finished ? .end : .wait, nil) }
            let count = min(available, buffer.count)
            state.pending.withUnsafeBytes { pending in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: pending[state.offset..<state.offset + count]))
            }
            state.offset += count
            state.sent += count
            if state.offset == state.pending.count {
                state.pending.removeAll(keepingCapacity: true)
                state.offset = 0
            } else if state.offset >= highWaterMark {
                state.pending.removeFirst(state.offset)
                state.offset = 0
            }
            guard state.pending.count - state.offset <= highWaterMark, let drained = state.drained else { return (.bytes(count), nil) }
            state.drained = nil
            return (.bytes(count), drained)
        }
        drained?.resume()
        return read
    }

    private func append(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            state.pending += bytes
        }
        wake()
    }
}

/// Why a streamed response ended before its producer finished: `client_disconnected`, `shutting_down` or `cancelled`.
public struct HTTPResponseAborted: Error, Sendable, CustomStringConvertible {
    public let code: String
    public var description: String { "response aborted: \(code)" }
}
