import CMicroHTTPD
import CTransportErrors
import CTransportTLS
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A libmicrohttpd connection pointer. libmicrohttpd allows `MHD_resume_connection` from any thread;
/// every other use stays on the connection's worker thread inside the callbacks.
struct ConnectionHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// One request's journey through the transport: its head, its body stream, the handler's task and
/// the response, coordinating libmicrohttpd's suspend/resume with the handler's progress.
final class Exchange: Sendable {
    struct State {
        var response: HTTPResponse?
        var suspended = false
        var wakeupPending = false
        var completed = false
        var bodyFinished = false
        var abortRequested = false
        var task: Task<Void, Never>?
        var status: Int?
        var bytesReceived = 0
        var bytesSent = 0
        /// `bytesReceived` when the watchdog last saw the peer hung up (see ``abandonIfClientLeft()``).
        var hangUpSeenAt: Int?
        /// Where the body rate's current window began (see ``abandonIfBodyTooSlow(minimumBytesPerSecond:window:)``).
        var rateWindowStart = ContinuousClock.now
        var rateWindowBytes = 0
        /// A streamed response's body, and the task producing it.
        var responseWriter: HTTPResponseBodyWriter?
        var producer: Task<Void, Never>?
    }

    let connection: ConnectionHandle
    let method: HTTPMethod
    let routeTemplate: String
    let acceptEncoding: String?
    let remoteAddress: String?
    let started = ContinuousClock.now
    private let hasBody: Bool
    /// The announced body size, when the request has a `Content-Length`.
    let contentLength: Int?
    /// The connection's socket, probed only while libmicrohttpd holds the connection suspended.
    let socket: Int32
    /// Whether the connection is HTTPS: its socket carries TLS records, never written to directly.
    let isTLS: Bool
    let state = Mutex(State())
    /// The handler's body stream, when the route streams.
    let body: HTTPRequestBody?

    init(connection: ConnectionHandle, method: HTTPMethod, routeTemplate: String, headers: HTTPHeaders,
         remoteAddress: String?, streamsBody: Bool, bodyBufferBytes: Int) {
        self.connection = connection
        self.method = method
        self.routeTemplate = routeTemplate
        self.acceptEncoding = headers["Accept-Encoding"]
        self.remoteAddress = remoteAddress
        self.contentLength = headers["Content-Length"].flatMap { Int($0) }
        self.hasBody = (contentLength ?? 0) > 0 || headers.contains("Transfer-Encoding")
        self.socket = CMicroHTTPD_connection_fd(connection.pointer)
        self.isTLS = CTransportTLS_is_tls(connection.pointer) != 0
        let waker = ExchangeWaker()
        body = streamsBody ? HTTPRequestBody(highWaterMark: bodyBufferBytes) { waker.exchange?.wake() } : nil
        waker.exchange = self
    }

    var requestBody: HTTPRequestBody { body ?? .empty() }

    // MARK: Called on the connection's worker thread (libmicrohttpd callbacks)

    /// Starts the handler task for a streaming route.
    func start(_ task: @escaping @Sendable () async -> HTTPResponse) {
        let task = Task { [self] in complete(with: await task()) }
        state.withLock { $0.task = task }
    }

    /// Answers at once (unknown route, wrong method, immediate handler).
    /// A request with an unread body is answered right away, which makes libmicrohttpd skip the body
    /// and close the connection; otherwise the answer waits for the next call to keep the connection alive.
    func respondOnFirstCall(_ response: HTTPResponse) -> MHD_Result {
        state.withLock { $0.response = Self.encoded(response, acceptEncoding: acceptEncoding) }
        return hasBody ? queueReadyResponse() : .YES
    }

    /// Handles a later call: a body chunk, or the end of the request.
    func process(uploadData: UnsafePointer<CChar>?, uploadDataSize: UnsafeMutablePointer<Int>) -> MHD_Result {
        let size = uploadDataSize.pointee
        if size > 0 {
            uploadDataSize.pointee = 0
            let (answered, aborting) = state.withLock { state in
                state.bytesReceived += size
                return (state.response != nil, state.abortRequested)
            }
            if aborting { return .NO }
            if answered {
                body?.abandon()
                return sendFinalResponseMidBody()
            }
            guard let body, let uploadData else { return .YES }
            let chunk = Array(UnsafeRawBufferPointer(start: uploadData, count: size))
            if body.push(chunk) { suspendUnlessWoken() }
            return .YES
        }
        if let body, !state.withLock({ $0.bodyFinished }) {
            state.withLock { $0.bodyFinished = true }
            body.finish()
        }
        return respondOrSuspend()
    }

    /// libmicrohttpd is done with the request: fail an unfinished body, cancel the handler.
    func requestCompleted(_ termination: MHD_RequestTerminationCode) -> HTTPRequestLog {
        let (task, bodyFinished, status, received, sent, writer, producer) = state.withLock { state in
            state.completed = true
            state.suspended = false
            return (state.task, state.bodyFinished, state.status, state.bytesReceived, state.bytesSent, state.responseWriter,
                    state.producer)
        }
        // A streamed response stops being produced (a no-op when it ended).
        writer?.fail(HTTPResponseAborted(code: termination == .REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutting_down" : "client_disconnected"))
        producer?.cancel()
        if !bodyFinished, let body {
            let code: String
            switch termination {
            case .REQUEST_TERMINATED_TIMEOUT_REACHED: code = "timeout"
            case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: code = "shutting_down"
            default: code = "client_disconnected"
            }
            body.fail(HTTPBodyError(code: code))
        }
        if status == nil { task?.cancel() }
        return HTTPRequestLog(method: method, routeTemplate: routeTemplate, status: status,
                              durationSeconds: started.duration(to: .now).secondsValue, bytesReceived: received,
                              bytesSent: writer?.bytesSent ?? sent, remoteAddress: remoteAddress)
    }

    // MARK: Called from any thread

    /// The handler produced its response.
    func complete(with response: HTTPResponse) {
        let encoded = Self.encoded(response, acceptEncoding: acceptEncoding)
        let resume = state.withLock { state -> Bool in
            guard !state.completed else { return false }
            state.response = encoded
            return takeSuspension(&state)
        }
        if resume { MHD_resume_connection(connection.pointer) }
    }

    /// Shutdown gave up waiting: make the connection close at its next turn.
    func abortForShutdown() {
        let (resume, writer) = state.withLock { state -> (Bool, HTTPResponseBodyWriter?) in
            guard !state.completed else { return (false, nil) }
            state.abortRequested = true
            return (takeSuspension(&state), state.responseWriter)
        }
        writer?.fail(HTTPResponseAborted(code: "shutting_down"))
        if resume { MHD_resume_connection(connection.pointer) }
    }

    /// Whether libmicrohttpd still holds the connection suspended (`MHD_stop_daemon` must not find one).
    var isSuspendedInTransport: Bool {
        state.withLock { state in
            !state.completed && CMicroHTTPD_connection_suspended(connection.pointer) == 1
        }
    }

    /// The body consumer drained the buffer, or a streamed response has more: go on with the connection.
    func wake() {
        let resume = state.withLock { state -> Bool in
            guard !state.completed else { return false }
            return takeSuspension(&state)
        }
        if resume { MHD_resume_connection(connection.pointer) }
    }

    // MARK: Private

    /// Clears a suspension (returning `true` if the caller must resume) or records a wake-up that
    /// arrived before the worker thread suspended.
    private func takeSuspension(_ state: inout State) -> Bool {
        if state.suspended {
            state.suspended = false
            return true
        }
        state.wakeupPending = true
        return false
    }

    func suspendUnlessWoken() {
        state.withLock { state in
            if state.wakeupPending || state.response != nil || state.abortRequested {
                state.wakeupPending = false
                return
            }
            state.suspended = true
            MHD_suspend_connection(connection.pointer)
        }
    }

    private func respondOrSuspend() -> MHD_Result {
        let ready = state.withLock { state -> Bool? in
            if state.abortRequested { return nil }
            if state.response != nil { return true }
            state.wakeupPending = false
            state.suspended = true
            MHD_suspend_connection(connection.pointer)
            return false
        }
        switch ready {
        case .none: return .NO
        case .some(true): return queueReadyResponse()
        case .some(false): return .YES
        }
    }

    private func queueReadyResponse() -> MHD_Result {
        guard let response = state.withLock({ state -> HTTPResponse? in
            defer { state.response = nil }
            return state.response
        }) else { return .YES }
        if let produce = response.produceBody { return queueStreamedResponse(response, produce) }
        let mhdResponse = response.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                                            .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for (name, value) in response.headers where name.caseInsensitiveEquals("Content-Length") == false {
            _ = MHD_add_response_header(mhdResponse, name, value)
        }
        let queued = CTransportErrors_queue_response(connection.pointer, UInt32(response.status), mhdResponse)
        if queued == .YES {
            state.withLock { state in
                state.status = response.status
                state.bytesSent = response.body.count
            }
        }
        return queued
    }

    /// The handler answered while the body is still arriving (e.g. an upload over its size limit).
    /// libmicrohttpd 0.9.75 only queues responses before or after the body, and reading gigabytes just to
    /// discard them is not an option: write the response straight to the connection and close it.
    private func sendFinalResponseMidBody() -> MHD_Result {
        guard let response = state.withLock({ state -> HTTPResponse? in
            defer { state.response = nil }
            return state.response
        }) else { return .NO }
        let socket = CMicroHTTPD_connection_fd(connection.pointer)
        guard socket >= 0 else { return .NO }
        let offset = RawResponse.write(response, connection: connection.pointer, socket: socket)
        state.withLock { state in
            state.status = response.status
            state.bytesSent = offset
        }
        return .NO
    }

    private static func encoded(_ response: HTTPResponse, acceptEncoding: String?) -> HTTPResponse {
        var response = response
        ContentEncoding.apply(to: &response, acceptEncoding: acceptEncoding)
        return response
    }
}

/// Lets a body's wake-up closure reach its exchange without a reference cycle.
private final class ExchangeWaker: @unchecked Sendable {
    // Written once during `Exchange.init` before the exchange is shared; read-only afterwards.
    weak var exchange: Exchange?
}
