import CMicroHTTPD
import CTransportErrors

/// Streamed responses: libmicrohttpd asks a content reader for the body as the socket takes it; the reader hands
/// over what the producer wrote, or suspends the connection until the producer writes more.
extension Exchange {
    /// Queues a response whose body `produce` writes while libmicrohttpd sends it, and starts the producer.
    func queueStreamedResponse(_ response: HTTPResponse,
                               _ produce: @escaping @Sendable (HTTPResponseBodyWriter) async throws -> Void) -> MHD_Result {
        let writer = HTTPResponseBodyWriter(gzip: response.gzipsProducedBody) { [weak self] in self?.wake() }
        // The response holds the exchange until libmicrohttpd destroys it (`releaseExchange`).
        let context = Unmanaged.passRetained(self).toOpaque()
        guard let mhdResponse = CMicroHTTPD_create_streaming_response(Self.streamBlockSize, contentReader, context, releaseExchange) else {
            Unmanaged<Exchange>.fromOpaque(context).release()
            return .NO
        }
        defer { MHD_destroy_response(mhdResponse) }
        for (name, value) in response.headers where !name.caseInsensitiveEquals("Content-Length") {
            _ = MHD_add_response_header(mhdResponse, name, value)
        }
        state.withLock { $0.responseWriter = writer }
        let queued = CTransportErrors_queue_response(connection.pointer, UInt32(response.status), mhdResponse)
        guard queued == .YES else { return queued }
        let producer = Task {
            do {
                try await produce(writer)
                writer.finish()
            } catch {
                writer.fail(error as? HTTPResponseAborted ?? HTTPResponseAborted(code: "producer_failed"))
                // Logged and counted as aborted: the head said 200, but the body was cut short.
                self.state.withLock { $0.status = nil }
            }
        }
        state.withLock { state in
            state.status = response.status
            state.producer = producer
        }
        return queued
    }

    /// The most libmicrohttpd asks the reader for at once.
    private static let streamBlockSize = 32 * 1024

    /// libmicrohttpd asks for more of a streamed body (on the connection's thread).
    fileprivate func readStreamedBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let writer = state.withLock({ $0.responseWriter }) else { return CMicroHTTPD_content_reader_end_with_error }
        switch writer.read(into: buffer) {
        case .bytes(let count): return count
        case .end: return CMicroHTTPD_content_reader_end_of_stream
        case .failed: return CMicroHTTPD_content_reader_end_with_error
        case .wait:
            // Returning 0 without suspending would make libmicrohttpd ask again at once, in a loop.
            suspendUnlessWoken()
            return 0
        }
    }
}

private func contentReader(_ context: UnsafeMutableRawPointer?, _ position: UInt64, _ buffer: UnsafeMutablePointer<CChar>?,
                           _ maximum: Int) -> Int {
    guard let context, let buffer else { return CMicroHTTPD_content_reader_end_with_error }
    return Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        .readStreamedBody(into: UnsafeMutableRawBufferPointer(start: buffer, count: maximum))
}

private func releaseExchange(_ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<Exchange>.fromOpaque(context).release()
}
