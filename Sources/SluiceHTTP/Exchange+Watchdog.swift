import CMicroHTTPD
#if canImport(Glibc)
import Glibc
#endif

/// The watchdog's probes of an exchange whose body is still arriving: clients that left, and clients too slow.
extension Exchange {
    /// Notices a client that left mid-body when libmicrohttpd does not. While a connection is suspended
    /// libmicrohttpd does not watch its socket; and a FIN that arrived while it was suspended can be missed
    /// after it resumes (with epoll, edge-triggered, once the bytes before it are read), until the idle
    /// timeout. Probed by the server's watchdog: when the body can no longer arrive — the peer reset the
    /// connection, or shut it down with fewer bytes waiting than the body still lacks, seen on two probes in
    /// a row with no byte received in between — the body fails with `client_disconnected`, the handler is
    /// cancelled, and the connection is resumed (or, if not suspended, its socket shut down) so that
    /// libmicrohttpd closes it and completes the request. Returns whether it gave up on the request.
    @discardableResult
    func abandonIfClientLeft() -> Bool {
        let action = state.withLock { state -> LeftAction? in
            // Until the request completes (which waits for this lock), the socket is still this connection's.
            guard body != nil, !state.completed, !state.bodyFinished, !state.abortRequested, socket >= 0 else { return nil }
            var waiting: Int64 = 0
            let probe = CMicroHTTPD_peer_hung_up(socket, &waiting)
            // After a half-close, a body of known length can tell whether the rest is still waiting; a chunked
            // one cannot (its end may sit in libmicrohttpd's buffer), so only a failed connection counts there.
            // On TLS the bytes waiting are records, and GnuTLS may hold up to one record of the body already.
            let buffered = isTLS ? Self.tlsRecordBytes : 0
            let hungUp = probe == 2
                || (probe == 1 && contentLength.map { Int(waiting) + buffered < $0 - state.bytesReceived } == true)
            guard hungUp, state.hangUpSeenAt == state.bytesReceived else {
                state.hangUpSeenAt = hungUp ? state.bytesReceived : nil
                return nil
            }
            state.abortRequested = true
            guard state.suspended else {
                // Wakes libmicrohttpd's poll with an error; done under the lock, while the socket is surely ours.
                shutdown(socket, Int32(SHUT_RDWR))
                return .socketShutDown
            }
            state.suspended = false
            return .resume
        }
        guard let action else { return false }
        body?.fail(HTTPBodyError(code: "client_disconnected"))
        state.withLock { $0.task }?.cancel()
        if action == .resume { MHD_resume_connection(connection.pointer) }
        return true
    }

    /// Gives up on a body arriving slower than `minimumBytesPerSecond`, measured over windows of `window`
    /// while the transport is reading it (time suspended, when the handler is behind, does not count): answers
    /// `408 body_too_slow` on the socket and shuts it down, so the connection slot is not held by a client
    /// trickling a byte at a time. Probed by the server's watchdog; returns whether it gave up on the request.
    @discardableResult
    func abandonIfBodyTooSlow(minimumBytesPerSecond: Int, window: Duration) -> Bool {
        let now = ContinuousClock.now
        let gaveUp = state.withLock { state -> Bool in
            guard body != nil, !state.completed, !state.bodyFinished, !state.abortRequested, state.response == nil,
                  socket >= 0 else { return false }
            guard !state.suspended, now - state.rateWindowStart >= window else {
                if state.suspended { (state.rateWindowStart, state.rateWindowBytes) = (now, state.bytesReceived) }
                return false
            }
            let arrived = state.bytesReceived - state.rateWindowBytes
            (state.rateWindowStart, state.rateWindowBytes) = (now, state.bytesReceived)
            guard Double(arrived) < Double(minimumBytesPerSecond) * window.secondsValue else { return false }
            // Under the lock the request has not completed, so the socket is still this connection's.
            state.abortRequested = true
            state.status = 408
            // A TLS connection cannot be written to from this thread: it is closed without the answer.
            state.bytesSent = isTLS ? 0 : RawResponse.write(Self.tooSlow(minimumBytesPerSecond), to: socket)
            shutdown(socket, Int32(SHUT_RDWR))
            return true
        }
        guard gaveUp else { return false }
        body?.fail(HTTPBodyError(code: "too_slow"))
        state.withLock { $0.task }?.cancel()
        return true
    }

    private static func tooSlow(_ minimumBytesPerSecond: Int) -> HTTPResponse {
        HTTPError(status: 408, code: "body_too_slow",
                  message: "the request body arrived slower than \(minimumBytesPerSecond) bytes per second").response
    }

    /// The most plaintext one TLS record holds, with room for its overhead.
    private static let tlsRecordBytes = 17 * 1024

    private enum LeftAction {
        case resume, socketShutDown
    }
}
