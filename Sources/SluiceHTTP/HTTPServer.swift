import CMicroHTTPD
import CTransportTLS
import Dispatch
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server over libmicrohttpd: a route table, streamed request bodies, gzip, connection
/// limits and graceful shutdown.
///
/// Worker threads belong to libmicrohttpd (epoll, a pool of `threadCount`). Streaming handlers run as
/// Swift tasks; while one works, its connection is suspended, so a worker thread never blocks on it.
public final class HTTPServer: Sendable {
    private let core: ServerCore
    private let daemon = Mutex<DaemonHandle?>(nil)

    /// - Parameter onRequestCompleted: called once per finished request, on a worker thread; keep it cheap.
    public init(configuration: HTTPServerConfiguration, router: Router, logger: Logger,
                onRequestCompleted: @escaping @Sendable (HTTPRequestLog) -> Void = { _ in }) {
        core = ServerCore(configuration: configuration, router: router, logger: logger,
                          onRequestCompleted: onRequestCompleted)
    }

    /// Binds the listening socket and starts the worker threads.
    public func start() throws {
        let configuration = core.configuration
        let context = Unmanaged.passRetained(core).toOpaque()
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
        if configuration.address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        if configuration.tls != nil { flags |= MHD_USE_TLS.rawValue }
        let threads = max(1, configuration.threadCount)
        let started: OpaquePointer? = try configuration.address.withSocketAddress { address in
            var options = CMicroHTTPD_Options(
                bind_address: address,
                // libmicrohttpd splits its limit across pool threads; the exact limit is enforced by `acceptPolicy`.
                connection_limit: UInt32(clamping: configuration.connectionLimit * threads + threads),
                per_ip_connection_limit: UInt32(clamping: configuration.perIPConnectionLimit),
                connection_timeout_seconds: UInt32(clamping: configuration.idleTimeoutSeconds),
                thread_pool_size: threads > 1 ? UInt32(threads) : 0,
                connection_memory_limit: configuration.maximumHeaderBytes,
                listen_backlog: 511,
                tls_certificate_callback: configuration.tls == nil ? nil : CTransportTLS_certificate_callback(),
                tls_priorities: configuration.tls == nil ? nil : CTransportTLS_priorities())
            return CMicroHTTPD_start_daemon(flags, configuration.address.port, &options, acceptPolicy,
                                            accessHandler, requestCompleted, connectionNotification, context)
        }
        guard let started else {
            Unmanaged<ServerCore>.fromOpaque(context).release()
            throw HTTPServerError(code: HTTPServerErrorCode.listenFailed,
                                  message: "cannot listen on \(configuration.address): \(String(cString: strerror(errno)))")
        }
        daemon.withLock { $0 = DaemonHandle(pointer: started, context: context) }
        core.startWatchdog()
        core.logger.info(configuration.tls == nil ? "HTTP server listening" : "HTTP server listening (HTTPS)",
                         metadata: ["address": "\(configuration.address.host):\(port)"])
    }

    /// The bound port (useful when configured with port 0).
    public var port: UInt16 {
        daemon.withLock { $0.map { CMicroHTTPD_bound_port($0.pointer) } } ?? core.configuration.address.port
    }

    /// Requests received and not yet finished.
    public var inFlightRequests: Int { core.inFlight.load(ordering: .relaxed) }
    /// Open client connections.
    public var openConnections: Int { core.connections.load(ordering: .relaxed) }
    /// Connections libmicrohttpd holds suspended: a handler is behind on the body or still working on its answer.
    public var suspendedConnections: Int { core.suspendedCount }
    /// Connections refused because the connection limit was reached.
    public var refusedConnections: Int { core.refused.load(ordering: .relaxed) }
    /// Connections closed because a request head did not arrive within the head timeout.
    public var headTimeouts: Int { core.headDeadlines.timedOut.load(ordering: .relaxed) }
    /// Requests given up on because their body arrived slower than the minimum rate.
    public var slowBodies: Int { core.slowBodies.load(ordering: .relaxed) }

    /// Stops accepting connections, lets in-flight requests finish (up to the grace period), then
    /// closes every connection and stops the worker threads.
    public func shutdown() async {
        guard let handle = daemon.withLock({ state -> DaemonHandle? in
            defer { state = nil }
            return state
        }) else { return }
        core.shuttingDown.store(true, ordering: .relaxed)
        let listener = MHD_quiesce_daemon(handle.pointer)
        if listener >= 0 { close(listener) }
        let deadline = ContinuousClock.now + .milliseconds(Int(core.configuration.shutdownGraceSeconds * 1000))
        while core.inFlight.load(ordering: .relaxed) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        core.abortInFlight()
        // A resume takes effect on the worker thread's next turn, and MHD_stop_daemon aborts the process
        // if it finds a connection still suspended: wait for every aborted connection to leave that state.
        // New requests on kept-alive connections are refused from now on (see `begin`), and what suspended
        // meanwhile is aborted again; the process's forced exit bounds a wait that would never end.
        core.stopWatchdog()
        while core.suspendedCount > 0 {
            core.abortInFlight()
            try? await Task.sleep(for: .milliseconds(5))
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // MHD_stop_daemon joins the worker threads: keep that off the cooperative pool.
            DispatchQueue.global().async {
                MHD_stop_daemon(handle.pointer)
                Unmanaged<ServerCore>.fromOpaque(handle.context).release()
                continuation.resume()
            }
        }
        core.logger.info("HTTP server stopped")
    }
}

/// The daemon and the retained context pointer its callbacks receive (released once, after stopping).
private struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let context: UnsafeMutableRawPointer
}

// MARK: - libmicrohttpd callbacks (plain functions: C function pointers cannot capture context)

private func core(_ context: UnsafeMutableRawPointer?) -> ServerCore {
    Unmanaged<ServerCore>.fromOpaque(context!).takeUnretainedValue()
}

private let acceptPolicy: MHD_AcceptPolicyCallback = { context, _, _ in
    let server = core(context)
    if server.shuttingDown.load(ordering: .relaxed)
        || server.connections.load(ordering: .relaxed) >= server.configuration.connectionLimit {
        server.refused.add(1, ordering: .relaxed)
        return .NO
    }
    return .YES
}

private let connectionNotification: MHD_NotifyConnectionCallback = { context, connection, socketContext, code in
    let server = core(context)
    switch code {
    case .CONNECTION_NOTIFY_STARTED:
        // The TLS handshake, which comes later, finds the certificate here (see CTransportTLS).
        if let tls = server.configuration.tls { socketContext?.pointee = UnsafeMutableRawPointer(tls.credentials) }
        server.connections.add(1, ordering: .relaxed)
        if let connection { server.headDeadlines.opened(connection) }
    case .CONNECTION_NOTIFY_CLOSED:
        server.connections.subtract(1, ordering: .relaxed)
        if let connection { server.headDeadlines.closed(connection) }
    @unknown default: break
    }
}

private let accessHandler: MHD_AccessHandlerCallback = { context, connection, url, method, _, uploadData, uploadDataSize, requestContext in
    guard let connection, let requestContext, let uploadDataSize else { return .NO }
    let server = core(context)
    if let existing = requestContext.pointee {
        return Unmanaged<Exchange>.fromOpaque(existing).takeUnretainedValue()
            .process(uploadData: uploadData, uploadDataSize: uploadDataSize)
    }
    let (exchange, immediate) = server.begin(connection: connection, url: url.map { String(cString: $0) } ?? "/",
                                             method: method.map { String(cString: $0) } ?? "GET")
    requestContext.pointee = Unmanaged.passRetained(exchange).toOpaque()
    server.began(exchange)
    guard var response = immediate else { return .YES }
    if server.shuttingDown.load(ordering: .relaxed) { response.headers.replace("Connection", "close") }
    return exchange.respondOnFirstCall(response)
}

private let requestCompleted: MHD_RequestCompletedCallback = { context, connection, requestContext, termination in
    guard let requestContext, let pointer = requestContext.pointee else { return }
    requestContext.pointee = nil
    let server = core(context)
    if let connection { server.headDeadlines.requestFinished(connection) }
    let exchange = Unmanaged<Exchange>.fromOpaque(pointer).takeRetainedValue()
    let log = exchange.requestCompleted(termination)
    server.ended(exchange)
    server.onRequestCompleted(log)
}
