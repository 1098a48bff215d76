import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/1.1 client for tests over loopback, run on its own thread so it never
/// blocks Swift's cooperative pool (which the server under test needs).
public struct TestHTTPClient: Sendable {
    public let host: String
    public let port: UInt16

    public init(host: String = "127.0.0.1", port: UInt16) {
        self.host = host
        self.port = port
    }

    /// A request body: fixed bytes, or `count` bytes produced by repeating `pattern` without buffering them.
    public enum Body: Sendable {
        case bytes([UInt8])
        case repeating(pattern: [UInt8], count: Int)
    }

    /// Sends one request on a fresh connection and reads the whole response.
    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: Body? = nil) async throws -> TestHTTPResponse {
        try await onThread {
            let connection = try TestConnection(host: host, port: port)
            defer { connection.close() }
            try connection.write(request(method, path, headers: headers, body: body))
            if let body { try connection.write(body) }
            return try connection.readResponse(method: method)
        }
    }

    public func get(_ path: String, headers: [(String, String)] = []) async throws -> TestHTTPResponse {
        try await send("GET", path, headers: headers)
    }

    /// Opens a raw connection (for connection-limit and keep-alive tests).
    public func connect() async throws -> TestConnection {
        try await onThread { try TestConnection(host: host, port: port) }
    }

    /// The request head for `method` and `path`.
    public func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: Body? = nil) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body {
            switch body {
            case .bytes(let bytes): head += "Content-Length: \(bytes.count)\r\n"
            case .repeating(_, let count): head += "Content-Length: \(count)\r\n"
            }
        }
        return Array((head + "\r\n").utf8)
    }
}

/// Runs blocking work on a dedicated thread and awaits its result.
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

/// A response as the test client read it.
public struct TestHTTPResponse: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object.
    public func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw TestClientError("response body is not a JSON object: \(text)")
        }
        return object
    }

    /// `error.code` of a JSON error body.
    public var errorCode: String? {
        ((try? json())?["error"] as? [String: Any])?["code"] as? String
    }
}

public struct TestClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One blocking TCP connection.
public final class TestConnection: @unchecked Sendable {
    // Used by one test at a time; not shared across threads concurrently.
    private let socket: Int32
    private var buffer: [UInt8] = []

    public init(host: String, port: UInt16) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else {
            released.store(true, ordering: .relaxed)
            throw TestClientError("socket() failed")
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            // `deinit` runs after a throwing initializer too: it must not close the descriptor a second time,
            // by then perhaps another socket of the test process (a PostgreSQL connection once).
            released.store(true, ordering: .relaxed)
            Glibc.close(socket)
            throw TestClientError("connect to \(host):\(port) failed: \(reason)")
        }
    }

    /// Whether the descriptor is released already (by ``reset()``, or by a failed connect).
    private let released = Atomic<Bool>(false)

    /// Ends the connection (the peer sees it closed). The descriptor itself is released only when the last
    /// reference goes: a task still writing to this connection then fails, instead of writing into whatever
    /// socket of the test process got the same descriptor number (one corrupted another test's PostgreSQL
    /// connection that way).
    public func close() { Glibc.shutdown(socket, Int32(SHUT_RDWR)) }

    /// Closes with a reset (`SO_LINGER` 0), as a client that was killed or gave up; nothing may use the
    /// connection afterwards.
    public func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        if !released.exchange(true, ordering: .relaxed) { Glibc.close(socket) }
    }

    deinit {
        if !released.exchange(true, ordering: .relaxed) { Glibc.close(socket) }
    }

    /// Shuts down the sending side only, as a client that has sent everything and waits for the answer.
    public func shutdownWriting() { Glibc.shutdown(socket, Int32(SHUT_WR)) }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw TestClientError("send failed: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    public func write(_ body: TestHTTPClient.Body) throws {
        switch body {
        case .bytes(let bytes):
            try write(bytes)
        case .repeating(let pattern, let count):
            var remaining = count
            while remaining > 0 {
                let piece = remaining >= pattern.count ? pattern : Array(pattern.prefix(remaining))
                try write(piece)
                remaining -= piece.count
            }
        }
    }

    /// Whether the server closed the connection (reads EOF or a reset within `timeout` seconds).
    public func isClosedByPeer(timeout: Double = 5) -> Bool {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, Int32(MSG_PEEK)) <= 0
    }

    /// Sends a request on this (possibly kept-alive) connection and reads the response.
    public func roundTrip(_ request: [UInt8], method: String = "GET") throws -> TestHTTPResponse {
        try write(request)
        return try readResponse(method: method)
    }

    /// Reads a response, handing its body to `sink` chunk by chunk instead of keeping it (for bodies too big to
    /// hold); the response returned has an empty body then.
    public func readResponse(method: String, sink: (([UInt8]) -> Void)? = nil) throws -> TestHTTPResponse {
        let head = try readHead()
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestClientError("bad status line: \(statusLine)") }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let response = TestHTTPResponse(status: status, headers: headers, body: [])
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 {
        } else if let length = response.header("Content-Length").flatMap(Int.init) {
            body = try readExactly(length)
        } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw TestClientError("bad chunk size") }
                if size == 0 { _ = try readLine(); break }
                let chunk = try readExactly(size)
                if let sink { sink(chunk) } else { body += chunk }
                _ = try readLine()
            }
        } else {
            while let more = try fill(), more > 0 {}
            body = buffer
            buffer = []
        }
        return TestHTTPResponse(status: status, headers: headers, body: body)
    }

    private func readHead() throws -> String {
        let terminator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let range = firstRange(of: terminator) {
                let head = String(decoding: buffer[..<range], as: UTF8.self)
                buffer.removeFirst(range + 4)
                return head
            }
            guard let read = try fill(), read > 0 else { throw TestClientError("connection closed before a response") }
        }
    }

    private func readLine() throws -> String {
        while true {
            if let range = firstRange(of: [13, 10]) {
                let line = String(decoding: buffer[..<range], as: UTF8.self)
                buffer.removeFirst(range + 2)
                return line
            }
            guard let read = try fill(), read > 0 else { throw TestClientError("connection closed mid-line") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard let read = try fill(), read > 0 else { throw TestClientError("connection closed mid-body") }
        }
        let bytes = Array(buffer.prefix(count))
        buffer.removeFirst(count)
        return bytes
    }

    private func firstRange(of pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for index in 0...(buffer.count - pattern.count) where buffer[index] == pattern[0] {
            if Array(buffer[index..<(index + pattern.count)]) == pattern { return index }
        }
        return nil
    }

    /// Reads until the peer closes or `limit` bytes arrived, keeping nothing (for bodies too big to hold): the
    /// number of bytes read, head included.
    public func discard(upTo limit: Int = .max) throws -> Int {
        var total = buffer.count
        buffer = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while total < limit {
            let read = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if read < 0 && errno != ECONNRESET { throw TestClientError("recv failed: \(String(cString: strerror(errno)))") }
            if read <= 0 { break }
            total += read
        }
        return total
    }

    /// Reads what is available; `0` at EOF.
    private func fill() throws -> Int? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let read = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if read < 0 {
            if errno == ECONNRESET { return 0 }
            throw TestClientError("recv failed: \(String(cString: strerror(errno)))")
        }
        buffer += chunk.prefix(read)
        return read
    }
}
