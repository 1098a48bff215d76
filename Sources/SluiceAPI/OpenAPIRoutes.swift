import Foundation
import SluiceHTTP
import Yams

/// `GET /api/v1/openapi.json`: the API described in OpenAPI 3.1, written as `Resources/openapi.yaml` and served
/// as JSON (converted once, at start).
public struct OpenAPIRoutes: Sendable {
    private let document: HTTPResponse

    public init() {
        guard let url = BundledResources.url("openapi.yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8), let object = try? Yams.load(yaml: text),
              let json = try? JSONSerialization.data(withJSONObject: Self.jsonCompatible(object), options: [.sortedKeys, .withoutEscapingSlashes])
        else {
            document = HTTPError(status: 404, code: "not_found", message: "this build has no API description").response
            return
        }
        document = HTTPResponse(status: 200, headers: ["Content-Type": "application/json"], body: Array(json))
    }

    public var routes: [Route] {
        [Route(.get, "/api/v1/openapi.json", .immediate { _ in document })]
    }

    /// YAML's values as JSON takes them: keys (status codes are integers in YAML) and times become strings.
    private static func jsonCompatible(_ value: Any) -> Any {
        switch value {
        case let dictionary as [AnyHashable: Any]:
            Dictionary(dictionary.map { ("\($0.key.base)", jsonCompatible($0.value)) }, uniquingKeysWith: { first, _ in first })
        case let array as [Any]:
            array.map(jsonCompatible)
        case let date as Date:
            date.formatted(.iso8601)
        case is String, is Int, is Double, is Bool, is NSNull:
            value
        default:
            "\(value)"
        }
    }
}
