/// Settings of the HTTP transport, with production defaults.
public struct HTTPServerConfiguration: Sendable {
    /// Where to listen.
    public var address: ListenAddress
    /// Worker threads polling connections (libmicrohttpd's thread pool).
    public var threadCount: Int
    /// Open connections at most; connections beyond it are closed as soon as they are accepted.
    public var connectionLimit: Int
    /// Open connections per client IP at most (0 = no per-IP limit).
    public var perIPConnectionLimit: Int
    /// Seconds a connection may stay idle before it is closed.
    public var idleTimeoutSeconds: Int
    /// Seconds a connection has to deliver its first request head after it opens (later heads get the idle
    /// timeout after the previous response); libmicrohttpd's idle timeout restarts with every byte, so a
    /// client sending one header byte at a time would hold its slot forever.
    public var headTimeoutSeconds: Double
    /// Bytes per second a request body must arrive at, at least, measured over `bodyRateWindowSeconds`
    /// while the transport is reading it (0 = no minimum).
    public var minimumBodyBytesPerSecond: Int
    public var bodyRateWindowSeconds: Double
    /// Bytes of request line and headers at most (libmicrohttpd's per-connection buffer);
    /// larger requests are answered with 431.
    public var maximumHeaderBytes: Int
    /// Bytes of request body buffered for a slow handler before the transport stops reading the socket.
    public var bodyBufferBytes: Int
    /// Seconds between probes of suspended connections for clients that left mid-body (libmicrohttpd
    /// does not watch a suspended connection's socket).
    public var disconnectCheckSeconds: Double
    /// Seconds `shutdown()` waits for in-flight requests before closing them.
    public var shutdownGraceSeconds: Double
    /// Serve HTTPS with this certificate (plain HTTP when `nil`).
    public var tls: TLSCertificate?

    public init(address: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080),
                threadCount: Int = 2,
                connectionLimit: Int = 1024,
                perIPConnectionLimit: Int = 256,
                idleTimeoutSeconds: Int = 60,
                headTimeoutSeconds: Double = 10,
                minimumBodyBytesPerSecond: Int = 1024,
                bodyRateWindowSeconds: Double = 10,
                maximumHeaderBytes: Int = 32 * 1024,
                bodyBufferBytes: Int = 256 * 1024,
                disconnectCheckSeconds: Double = 0.25,
                shutdownGraceSeconds: Double = 30,
                tls: TLSCertificate? = nil) {
        self.address = address
        self.threadCount = threadCount
        self.connectionLimit = connectionLimit
        self.perIPConnectionLimit = perIPConnectionLimit
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.headTimeoutSeconds = headTimeoutSeconds
        self.minimumBodyBytesPerSecond = minimumBodyBytesPerSecond
        self.bodyRateWindowSeconds = bodyRateWindowSeconds
        self.maximumHeaderBytes = maximumHeaderBytes
        self.bodyBufferBytes = bodyBufferBytes
        self.disconnectCheckSeconds = disconnectCheckSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.tls = tls
    }
}

/// What the transport reports about each finished request (for access logs and metrics).
public struct HTTPRequestLog: Sendable {
    public let method: HTTPMethod
    /// The matched route template, or `unmatched` when no route matched.
    public let routeTemplate: String
    /// The status sent, or `nil` when the request ended without a response (client gone, timeout).
    public let status: Int?
    public let durationSeconds: Double
    public let bytesReceived: Int
    public let bytesSent: Int
    public let remoteAddress: String?
}
