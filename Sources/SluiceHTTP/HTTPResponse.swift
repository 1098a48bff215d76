import Foundation

/// An HTTP response: complete, or with a body produced while it is sent.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Writes the body after the head is sent, instead of `body` (see ``streaming(status:headers:_:)``).
    public var produceBody: (@Sendable (HTTPResponseBodyWriter) async throws -> Void)?
    /// Whether the transport gzips what `produceBody` writes (set by content negotiation).
    var gzipsProducedBody = false

    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body `produce` writes while it is sent, in bounded memory whatever its size (chunked, and
    /// gzip'd when the client accepts it). An error thrown once the head is sent can only cut the body short: the
    /// connection is closed without the body's end, which clients report as an incomplete transfer.
    public static func streaming(status: Int = 200, headers: HTTPHeaders,
                                 _ produce: @escaping @Sendable (HTTPResponseBodyWriter) async throws -> Void) -> HTTPResponse {
        var response = HTTPResponse(status: status, headers: headers)
        response.produceBody = produce
        return response
    }

    /// A response carrying `value` encoded as JSON.
    public static func json(_ value: some Encodable, status: Int = 200, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers.replace("Content-Type", "application/json")
        let body: [UInt8]
        do {
            body = Array(try JSONCoding.encoder.encode(value))
        } catch {
            return HTTPError(status: 500, code: "encoding_failed", message: "response could not be encoded: \(error)").response
        }
        return HTTPResponse(status: status, headers: headers, body: body + [UInt8(ascii: "\n")])
    }

    /// A plain-text response.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }
}

/// The JSON encoder settings every Sluice response uses: sorted keys, ISO-8601 dates, snake_case as written.
public enum JSONCoding {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}
