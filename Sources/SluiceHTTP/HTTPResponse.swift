import Foundation

/// A complete HTTP response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
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
