import CMicroHTTPD
import CTransportTLS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The deadline for receiving a request head, which libmicrohttpd lacks: its connection timeout is an
/// idle timeout, so a client sending a header byte every few seconds (slowloris) held a connection slot
/// forever, and 1,100 of them kept every other client, health checks included, out.
///
/// A connection must deliver its first request head within `seconds` of opening, and each later one within
/// `keptAliveSeconds` (the idle timeout) of its previous response: a kept-alive connection may wait that long
/// for its next request, but not trickle it in for longer. Past that, the watchdog shuts the socket down,
/// which makes libmicrohttpd close it: a connection that never completed a head is told `408 header_timeout`
/// first (a TLS one cannot be, from the watchdog's thread); a kept-alive one is just closed (it has no request
/// under way that could be told).
final class HeadDeadlines: Sendable {
    private struct Awaiting {
        let socket: Int32
        /// A TLS connection cannot be written to from the watchdog's thread: it is closed without an answer.
        let isTLS: Bool
        /// When the head became due; `nil` while a request is being served.
        var since: ContinuousClock.Instant?
        var servedRequests: Int
    }

    let seconds: Double
    let keptAliveSeconds: Double
    /// Connections closed for a late head.
    let timedOut = Atomic<Int>(0)
    /// Keyed by the connection pointer. An entry is removed in libmicrohttpd's closed notification, which
    /// comes before it closes the socket, so a socket found here under the lock is still this connection's.
    private let connections = Mutex<[UInt: Awaiting]>([:])

    init(seconds: Double, keptAliveSeconds: Double) {
        self.seconds = seconds
        self.keptAliveSeconds = keptAliveSeconds
    }

    func opened(_ connection: OpaquePointer) {
        let socket = CMicroHTTPD_connection_fd(connection)
        let isTLS = CTransportTLS_is_tls(connection) != 0
        connections.withLock { $0[key(connection)] = Awaiting(socket: socket, isTLS: isTLS, since: .now, servedRequests: 0) }
    }

    func headArrived(_ connection: OpaquePointer) {
        connections.withLock { $0[key(connection)]?.since = nil }
    }

    func requestFinished(_ connection: OpaquePointer) {
        connections.withLock { connections in
            guard var entry = connections[key(connection)] else { return }
            entry.since = .now
            entry.servedRequests += 1
            connections[key(connection)] = entry
        }
    }

    func closed(_ connection: OpaquePointer) {
        connections.withLock { _ = $0.removeValue(forKey: key(connection)) }
    }

    /// Shuts down every connection whose head is overdue (called by the server's watchdog).
    func closeOverdue() {
        let now = ContinuousClock.now
        let first = now - .milliseconds(Int(seconds * 1000)), later = now - .milliseconds(Int(keptAliveSeconds * 1000))
        connections.withLock { connections in
            for (key, entry) in connections {
                guard let since = entry.since, since < (entry.servedRequests == 0 ? first : later), entry.socket >= 0 else { continue }
                timedOut.add(1, ordering: .relaxed)
                if entry.servedRequests == 0, !entry.isTLS { _ = RawResponse.write(Self.timeout, to: entry.socket) }
                shutdown(entry.socket, Int32(SHUT_RDWR))
                connections[key]?.since = nil
            }
        }
    }

    private static let timeout = HTTPError(
        status: 408, code: "header_timeout",
        message: "the request line and headers did not arrive in time").response

    private func key(_ connection: OpaquePointer) -> UInt { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection))) }
}

/// A complete response written straight to a connection, for answers libmicrohttpd cannot send: while a request
/// body is still arriving, or when the transport gives up on a slow client.
enum RawResponse {
    /// Writes `response` with `Connection: close` on a plain connection's socket, from any thread; returns the
    /// bytes written.
    static func write(_ response: HTTPResponse, to socket: Int32) -> Int {
        let bytes = serialized(response)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { break }
            offset += sent
        }
        return offset
    }

    /// Writes `response` with `Connection: close` through the connection (its TLS session on HTTPS) and ends its
    /// sending side. Only on the connection's worker thread, inside a libmicrohttpd callback.
    static func write(_ response: HTTPResponse, connection: OpaquePointer, socket: Int32) -> Int {
        let sent = serialized(response).withUnsafeBytes { CTransportTLS_send(connection, socket, $0.baseAddress, $0.count) }
        CTransportTLS_shutdown_sending(connection, socket)
        return sent
    }

    private static func serialized(_ response: HTTPResponse) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n"
        for (name, value) in response.headers where !name.caseInsensitiveEquals("Content-Length")
            && !name.caseInsensitiveEquals("Connection") {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + response.body
    }
}
