import Foundation
import SluiceCompression

/// Parsing of the content-negotiation headers handlers need.
public enum HTTPContentNegotiation {
    /// Whether an `Accept-Encoding` header accepts gzip (`gzip;q=0` refuses it).
    public static func acceptsGzip(_ acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        for item in acceptEncoding.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = parts.first?.lowercased(), coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return quality > 0
        }
        return false
    }
}

/// Response compression: gzip when the client accepts it and the body is worth compressing.
enum ContentEncoding {
    /// Bodies smaller than this are sent as they are: gzip would not pay for its header.
    static let minimumSize = 1024

    /// Compresses `response` in place when appropriate; always marks it as varying by `Accept-Encoding`. A
    /// streamed body is marked gzip'd here and compressed as it is written.
    static func apply(to response: inout HTTPResponse, acceptEncoding: String?) {
        if response.produceBody != nil {
            guard !response.headers.contains("Content-Encoding") else { return }
            response.headers.replace("Vary", "Accept-Encoding")
            if HTTPContentNegotiation.acceptsGzip(acceptEncoding) {
                response.headers.replace("Content-Encoding", "gzip")
                response.gzipsProducedBody = true
            }
            return
        }
        guard response.body.count >= minimumSize, !response.headers.contains("Content-Encoding") else { return }
        response.headers.replace("Vary", "Accept-Encoding")
        guard HTTPContentNegotiation.acceptsGzip(acceptEncoding), let compressed = try? Gzip.compress(response.body) else { return }
        response.body = compressed
        response.headers.replace("Content-Encoding", "gzip")
    }
}
