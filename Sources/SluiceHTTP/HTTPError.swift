/// An error a handler throws to answer with a specific status and a JSON body
/// `{"error": {"code": "...", "message": "...", "details": [...]}}`.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    /// A stable, machine-readable code such as `not_found` or `file_too_large`.
    public var code: String
    /// A message for humans.
    public var message: String
    /// Further problems, e.g. one entry per invalid field.
    public var details: [String]
    public var headers: HTTPHeaders

    public init(status: Int, code: String, message: String, details: [String] = [], headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The error as a response.
    public var response: HTTPResponse {
        HTTPResponse.json(ErrorBody(error: .init(code: code, message: message, details: details.isEmpty ? nil : details)),
                          status: status, headers: headers)
    }

    public static func notFound(_ message: String = "no such resource") -> HTTPError {
        HTTPError(status: 404, code: "not_found", message: message)
    }

    public static func badRequest(_ code: String = "bad_request", _ message: String, details: [String] = []) -> HTTPError {
        HTTPError(status: 400, code: code, message: message, details: details)
    }

    private struct ErrorBody: Encodable {
        struct Content: Encodable {
            let code: String
            let message: String
            let details: [String]?
        }
        let error: Content
    }
}
