import CMicroHTTPD
import Dispatch
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// State shared by the libmicrohttpd callbacks of one server.
final class ServerCore: Sendable {
    let configuration: HTTPServerConfiguration
    let router: Router
    let logger: Logger
    let onRequestCompleted: @Sendable (HTTPRequestLog) -> Void
    let connections = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    /// Requests given up on because their body arrived too slowly.
    let slowBodies = Atomic<Int>(0)
    let headDeadlines: HeadDeadlines
    let shuttingDown = Atomic<Bool>(false)
    private let exchanges = Mutex<[ObjectIdentifier: Exchange]>([:])
    private let watchdog = Mutex<WatchdogTimer?>(nil)

    init(configuration: HTTPServerConfiguration, router: Router, logger: Logger,
         onRequestCompleted: @escaping @Sendable (HTTPRequestLog) -> Void) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.onRequestCompleted = onRequestCompleted
        self.headDeadlines = HeadDeadlines(seconds: configuration.headTimeoutSeconds,
                                           keptAliveSeconds: Double(configuration.idleTimeoutSeconds))
    }

    func began(_ exchange: Exchange) {
        inFlight.add(1, ordering: .relaxed)
        exchanges.withLock { $0[ObjectIdentifier(exchange)] = exchange }
    }

    func ended(_ exchange: Exchange) {
        exchanges.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(exchange)) }
        inFlight.subtract(1, ordering: .relaxed)
    }

    func abortInFlight() {
        for exchange in exchanges.withLock({ Array($0.values) }) { exchange.abortForShutdown() }
    }

    /// Connections libmicrohttpd holds suspended.
    var suspendedCount: Int {
        exchanges.withLock { Array($0.values) }.count { $0.isSuspendedInTransport }
    }

    /// Probes suspended connections for clients that left mid-body (see ``Exchange/abandonIfClientLeft()``).
    func startWatchdog() {
        let queue = DispatchQueue(label: "sluice.http.watchdog")
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.milliseconds(max(10, Int(configuration.disconnectCheckSeconds * 1000)))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.headDeadlines.closeOverdue()
            let rate = self.configuration.minimumBodyBytesPerSecond
            let window = Duration.milliseconds(Int(self.configuration.bodyRateWindowSeconds * 1000))
            for exchange in self.exchanges.withLock({ Array($0.values) }) {
                if exchange.abandonIfClientLeft() {
                    self.logger.debug("client left mid-body while its connection was suspended",
                                      metadata: ["route": "\(exchange.routeTemplate)"])
                } else if rate > 0, exchange.abandonIfBodyTooSlow(minimumBytesPerSecond: rate, window: window) {
                    self.slowBodies.add(1, ordering: .relaxed)
                    self.logger.info("request body too slow, connection closed",
                                     metadata: ["route": "\(exchange.routeTemplate)", "remote": "\(exchange.remoteAddress ?? "")"])
                }
            }
        }
        timer.resume()
        watchdog.withLock { $0 = WatchdogTimer(source: timer, queue: queue) }
    }

    /// Stops the watchdog and waits for a probe in progress (it may resume a connection).
    func stopWatchdog() {
        let stopped = watchdog.withLock { timer in
            defer { timer = nil }
            return timer
        }
        stopped?.source.cancel()
        stopped?.queue.sync {}
    }

    /// Builds the exchange for a new request and decides how it will be answered: with an immediate
    /// response, or (for streaming routes) by the handler task it starts.
    func begin(connection: OpaquePointer, url: String, method: String) -> (Exchange, immediate: HTTPResponse?) {
        let method = HTTPMethod(rawValue: method)
        let headers = connectionValues(connection, kind: .HEADER_KIND)
        let remote = ipAddressString(CMicroHTTPD_client_address(connection))
        let handle = ConnectionHandle(pointer: connection)
        headDeadlines.headArrived(connection)
        if let refusal = Self.refusal(path: url, headers: headers) {
            let exchange = Exchange(connection: handle, method: method, routeTemplate: "unmatched", headers: headers,
                                    remoteAddress: remote, streamsBody: false, bodyBufferBytes: 0)
            return (exchange, refusal.response)
        }
        switch router.match(method: method, path: url) {
        case .notFound:
            let exchange = Exchange(connection: handle, method: method, routeTemplate: "unmatched", headers: headers,
                                    remoteAddress: remote, streamsBody: false, bodyBufferBytes: 0)
            return (exchange, HTTPError(status: 404, code: "route_not_found", message: "no route for \(method) \(url)").response)
        case .methodNotAllowed(let allowed):
            let exchange = Exchange(connection: handle, method: method, routeTemplate: "unmatched", headers: headers,
                                    remoteAddress: remote, streamsBody: false, bodyBufferBytes: 0)
            return (exchange, HTTPError(
                status: 405, code: "method_not_allowed", message: "\(method) is not allowed on \(url)",
                headers: ["Allow": allowed.map(\.rawValue).joined(separator: ", ")]).response)
        case .found(let route, let parameters):
            let request = HTTPRequest(method: method, path: url, routeTemplate: route.template,
                                      pathParameters: parameters,
                                      query: QueryParameters(connectionValues(connection, kind: .GET_ARGUMENT_KIND)
                                          .map { (name: $0.name, value: $0.value) }),
                                      headers: headers, remoteAddress: remote)
            switch route.handler {
            case .immediate(let handler):
                let exchange = Exchange(connection: handle, method: method, routeTemplate: route.template,
                                        headers: headers, remoteAddress: remote, streamsBody: false, bodyBufferBytes: 0)
                return (exchange, handler(request))
            case .streaming where shuttingDown.load(ordering: .relaxed):
                // A request on a kept-alive connection after shutdown began: no new handler may start.
                let exchange = Exchange(connection: handle, method: method, routeTemplate: route.template,
                                        headers: headers, remoteAddress: remote, streamsBody: false, bodyBufferBytes: 0)
                return (exchange, HTTPError(status: 503, code: "shutting_down", message: "the server is shutting down",
                                            headers: ["Connection": "close", "Retry-After": "1"]).response)
            case .streaming(let handler):
                let exchange = Exchange(connection: handle, method: method, routeTemplate: route.template,
                                        headers: headers, remoteAddress: remote, streamsBody: true,
                                        bodyBufferBytes: configuration.bodyBufferBytes)
                let body = exchange.requestBody
                let logger = logger
                exchange.start {
                    do {
                        return try await handler(request, body)
                    } catch let error as HTTPError {
                        return error.response
                    } catch let error as HTTPBodyError {
                        return HTTPError(status: 400, code: "body_incomplete", message: error.description).response
                    } catch {
                        logger.error("handler failed", metadata: ["route": "\(route.template)", "error": "\(error)"])
                        return HTTPError(status: 500, code: "internal_error", message: "internal server error").response
                    }
                }
                return (exchange, nil)
            }
        }
    }
}

/// Reads all values of one kind (headers or query arguments) from a connection.
func connectionValues(_ connection: OpaquePointer, kind: MHD_ValueKind) -> HTTPHeaders {
    var values = HTTPHeaders()
    withUnsafeMutablePointer(to: &values) { pointer in
        _ = MHD_get_connection_values(connection, kind, { context, _, key, value in
            guard let context, let key else { return .YES }
            context.assumingMemoryBound(to: HTTPHeaders.self).pointee
                .add(String(cString: key), value.map { String(cString: $0) } ?? "")
            return .YES
        }, pointer)
    }
    return values
}

/// The watchdog's timer source (dispatch sources are thread-safe; the protocol is not marked `Sendable`).
private struct WatchdogTimer: @unchecked Sendable {
    let source: any DispatchSourceTimer
    let queue: DispatchQueue
}
