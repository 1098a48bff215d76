import SluiceCommon
#if canImport(Glibc)
import Glibc
#endif

/// A host and port to listen on, parsed from `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080` or `:8080`.
    public init(parsing text: String) throws {
        let invalid = HTTPServerError(code: HTTPServerErrorCode.invalidListenAddress,
                                      message: "listen address must look like 127.0.0.1:8080, [::1]:8080 or :8080, got \"\(text)\"")
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { throw invalid }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
        guard isIPv6 || (try? ipv4Address()) != nil else { throw invalid }
    }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    var isIPv6: Bool { host.contains(":") }

    func ipv4Address() throws -> in_addr {
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else {
            throw HTTPServerError(code: HTTPServerErrorCode.invalidListenAddress, message: "not an IPv4 address: \(host)")
        }
        return address
    }

    /// Calls `body` with a `sockaddr` for this address (port in network byte order).
    func withSocketAddress<T>(_ body: (UnsafePointer<sockaddr>) throws -> T) throws -> T {
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else {
                throw HTTPServerError(code: HTTPServerErrorCode.invalidListenAddress, message: "not an IPv6 address: \(host)")
            }
            return try withUnsafePointer(to: &address) { try $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr = try ipv4Address()
        return try withUnsafePointer(to: &address) { try $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }
}

/// A failure to start the HTTP server: an address that cannot be listened on.
public typealias HTTPServerError = CodedFailure<HTTPServerErrorCode>

/// The codes of ``HTTPServerError``.
public enum HTTPServerErrorCode {
    /// The listen address is not `HOST:PORT` with an IP address and a port.
    public static let invalidListenAddress = "invalid_listen_address"
    /// The socket could not be bound.
    public static let listenFailed = "listen_failed"
}

/// The textual IP address of a socket address, if it is IPv4 or IPv6.
func ipAddressString(_ address: UnsafePointer<sockaddr>?) -> String? {
    guard let address else { return nil }
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    switch Int32(address.pointee.sa_family) {
    case AF_INET:
        return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
            var raw = inet.pointee.sin_addr
            return inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)).map { String(cString: $0) }
        }
    case AF_INET6:
        return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { inet6 in
            var raw = inet6.pointee.sin6_addr
            return inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)).map { String(cString: $0) }
        }
    default:
        return nil
    }
}
