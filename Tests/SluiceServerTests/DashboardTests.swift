import Foundation
import SluiceTestSupport
import Testing

/// The Grafana dashboards in `dashboards/`, held to what file provisioning and operators need (Grafana itself
/// is not installable here): the classic JSON model with schemaVersion ≥ 39; a `datasource` variable and every
/// panel and query on `${datasource}`, never an import placeholder; a multi-select `tenant` variable with All,
/// refreshed on time-range change, used as `tenant=~"$tenant"`; `$__rate_interval` in every rate and increase;
/// a unit on every stat, gauge and timeseries panel; a title and a description on every panel; unique ids; a
/// grid without overlaps; rows. And every PromQL expression, its variables substituted, parses (promtool).
@Suite struct DashboardTests {
    private static var directory: String { SluiceProcess.packageRoot + "/dashboards" }

    private static func dashboards() throws -> [(name: String, json: [String: Any])] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted().map { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
            return (name, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
        }
    }

    /// Every panel, those nested in collapsed rows too.
    private static func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        let top = dashboard["panels"] as? [[String: Any]] ?? []
        return top + top.flatMap { $0["panels"] as? [[String: Any]] ?? [] }
    }

    /// Every PromQL expression: the panels' queries and the query variables'.
    private static func expressions(_ dashboard: [String: Any]) -> [String] {
        let queries = panels(dashboard).flatMap { $0["targets"] as? [[String: Any]] ?? [] }.compactMap { $0["expr"] as? String }
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        return queries + variables.compactMap { ($0["query"] as? [String: Any])?["query"] as? String }
    }

    @Test func theDashboardsAreFileProvisionableAndFollowTheRules() throws {
        let dashboards = try Self.dashboards()
        #expect(Set(dashboards.map { $0.json["title"] as? String ?? "" }) == ["Sluice / Overview", "Sluice / Tenant", "Sluice / Internals"])
        for (name, dashboard) in dashboards {
            #expect(dashboard["uid"] is String && dashboard["tags"] is [String] && dashboard["time"] is [String: Any], "\(name)")
            #expect((dashboard["schemaVersion"] as? Int ?? 0) >= 39 && dashboard["refresh"] is String, "\(name)")
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/" + name)), as: UTF8.self)
            #expect(!text.contains("${DS_") && !text.contains("__inputs"), "\(name) holds import placeholders")
            let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
            let source = try #require(variables.first { $0["name"] as? String == "datasource" }, "\(name) has no datasource variable")
            #expect(source["type"] as? String == "datasource" && source["query"] as? String == "prometheus")
            let panels = Self.panels(dashboard)
            #expect(panels.contains { $0["type"] as? String == "row" }, "\(name) has no rows")
            var ids: Set<Int> = []
            var cells: Set<Int> = []
            for panel in panels {
                let title = panel["title"] as? String ?? ""
                #expect(!title.isEmpty && !(panel["description"] as? String ?? "").isEmpty, "\(name): a panel without title or description")
                let id = try #require(panel["id"] as? Int)
                #expect(ids.insert(id).inserted, "\(name): panel id \(id) twice")
                let grid = try #require(panel["gridPos"] as? [String: Int], "\(name): \(title) has no gridPos")
                let (x, y, w, h) = (grid["x"] ?? 0, grid["y"] ?? 0, grid["w"] ?? 0, grid["h"] ?? 0)
                #expect(w > 0 && h > 0 && x + w <= 24, "\(name): \(title) is off the grid")
                for column in x..<(x + w) {
                    for line in y..<(y + h) { #expect(cells.insert(line * 24 + column).inserted, "\(name): \(title) overlaps another panel") }
                }
                guard panel["type"] as? String != "row" else { continue }
                #expect((panel["datasource"] as? [String: String])?["uid"] == "${datasource}", "\(name): \(title)")
                if ["stat", "gauge", "timeseries"].contains(panel["type"] as? String ?? "") {
                    let unit = ((panel["fieldConfig"] as? [String: Any])?["defaults"] as? [String: Any])?["unit"] as? String
                    #expect(!(unit ?? "").isEmpty, "\(name): \(title) has no unit")
                }
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    #expect((target["datasource"] as? [String: String])?["uid"] == "${datasource}", "\(name): \(title)")
                }
            }
            let expressions = Self.expressions(dashboard)
            for expression in expressions {
                for match in expression.matches(of: /(rate|increase)\([^\[]*\[([^\]]*)\]/) {
                    #expect(match.output.2 == "$__rate_interval" || match.output.2 == "$__range" && match.output.1 == "increase",
                            "\(name): \(expression) does not use $__rate_interval")
                }
            }
            guard let tenant = variables.first(where: { $0["name"] as? String == "tenant" }) else {
                #expect(!expressions.contains { $0.contains("$tenant") }, "\(name) uses $tenant without the variable")
                continue
            }
            #expect(tenant["type"] as? String == "query" && tenant["refresh"] as? Int == 2, "\(name): tenant refreshes on time-range change")
            #expect(name == "sluice-tenant.json" ? tenant["multi"] as? Bool == false : tenant["multi"] as? Bool == true
                    && tenant["includeAll"] as? Bool == true, "\(name): tenant selection")
            #expect(expressions.filter { $0.contains("tenant") && !$0.hasPrefix("label_values") }.allSatisfy { $0.contains(#"tenant=~"$tenant""#) },
                    "\(name): a tenant query ignores the variable")
        }
    }

    @Test func theJSONIsWhatTheGeneratorWrites() throws {
        let result = try TestTool.run("/usr/bin/python3", [Self.directory + "/generate.py", "--check"], installedBy: "python3")
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func everyExpressionParsesWithItsVariablesSubstituted() throws {
        var rules = "groups:\n  - name: dashboards\n    rules:\n"
        var count = 0
        for (_, dashboard) in try Self.dashboards() {
            for expression in Self.expressions(dashboard) where !expression.hasPrefix("label_values") {
                for tenant in [".*", "tenant-a"] {
                    let substituted = expression.replacingOccurrences(of: "$__rate_interval", with: "1m")
                        .replacingOccurrences(of: "$__range", with: "1h").replacingOccurrences(of: "$tenant", with: tenant)
                    count += 1
                    rules += "      - record: dashboard:expression_\(count)\n        expr: '\(substituted.replacingOccurrences(of: "'", with: "''"))'\n"
                }
            }
        }
        #expect(count > 100)
        let file = try TestPostgres.makeTemporaryDirectory(prefix: "dashboards") + "/expressions.rules.yaml"
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try Promtool.run(["check", "rules", file])
        #expect(check.status == 0, "\(check.output)")
    }
}
