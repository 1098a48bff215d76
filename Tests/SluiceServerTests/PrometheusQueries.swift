import Foundation
import SluiceTestSupport

/// What the end-to-end test asks Prometheus: its HTTP API, and the shipped dashboards' queries.
extension PrometheusEndToEndTests {
    /// Every query of the shipped dashboards: panel expressions, and `label_values(selector, label)` variables.
    struct DashboardQueries {
        var expressions: [String] = []
        var variables: [(selector: String, label: String)] = []
    }

    /// A GET on a loopback server, parsed as JSON.
    static func json(_ port: Int, _ path: String) async throws -> [String: Any] {
        try await TestHTTPClient(port: UInt16(port)).get(path).json()
    }

    static func query(_ prometheus: Int, _ expression: String) async throws -> [String: Any] {
        try await json(prometheus, "/api/v1/query?query=\(encoded(expression))")
    }

    private static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    static func dashboards() throws -> DashboardQueries {
        var queries = DashboardQueries()
        let folder = SluiceProcess.packageRoot + "/dashboards/"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".json") {
            let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + name))) as? [String: Any] ?? [:]
            for panel in dashboard["panels"] as? [[String: Any]] ?? [] {
                queries.expressions += (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
            }
            for variable in (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] where variable["type"] as? String == "query" {
                let text = (variable["query"] as? [String: Any])?["query"] as? String ?? ""
                if let match = text.wholeMatch(of: /label_values\((.+),\s*(\w+)\)/) {
                    queries.variables.append((String(match.1), String(match.2)))
                } else {
                    queries.expressions.append(text)
                }
            }
        }
        return queries
    }

    /// The queries, with `$tenant` as All and as `tenant`, that Prometheus refuses or answers without data; a
    /// variable must list every one of `tenants`.
    static func withoutData(_ queries: DashboardQueries, prometheus: Int, tenant: String, tenants: [String]) async throws -> [String] {
        var missing: [String] = []
        for (selector, label) in queries.variables {
            let values = try await json(prometheus, "/api/v1/label/\(label)/values?match[]=\(encoded(selector))")["data"] as? [String] ?? []
            if !Set(tenants).isSubset(of: values) { missing.append("label_values(\(selector), \(label)): \(values)") }
        }
        for expression in queries.expressions {
            let base = expression.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$__range", with: "1h")
            for value in base.contains("$tenant") ? [".*", tenant] : [".*"] {
                let substituted = base.replacingOccurrences(of: "$tenant", with: value)
                let answer = try await query(prometheus, substituted)
                if answer["status"] as? String != "success" || (((answer["data"] as? [String: Any])?["result"] as? [Any]) ?? []).isEmpty {
                    missing.append(substituted)
                }
            }
        }
        return missing
    }
}
