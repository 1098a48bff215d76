import Foundation

/// The monitor's configuration: the rules of `CONFIG_DIR/rules/*.yaml` and the route tree of
/// `CONFIG_DIR/notifications.yaml`, validated together; a configuration with any problem is refused whole.
public struct MonitorConfiguration: Sendable, Equatable {
    /// The receiver built into every configuration: the stream manager's actions.
    public static let streamManagerReceiver = "stream-manager"

    public var rules: [MonitorRule]
    public var route: NotificationRoute
    /// The receivers routes may name.
    public var receivers: Set<String>
    /// The receivers among them that send out (webhooks, email).
    public var integrations: [ReceiverIntegration] = []
    public var inhibitRules: [InhibitRule] = []

    public init(rules: [MonitorRule] = [], route: NotificationRoute = NotificationRoute(receiver: streamManagerReceiver),
                receivers: Set<String> = [streamManagerReceiver]) {
        self.rules = rules
        self.route = route
        self.receivers = receivers
    }

    /// Reads `directory/rules/*.{yaml,yml}` (sorted by name) and `directory/notifications.yaml`; throws
    /// `invalid_rules` listing every problem as `file: path: message`.
    public static func load(directory: String) throws(ServiceError) -> MonitorConfiguration {
        var configuration = MonitorConfiguration()
        var problems: [String] = []
        let base = URL(fileURLWithPath: directory)
        let notifications = base.appendingPathComponent("notifications.yaml")
        if let bytes = try? [UInt8](Data(contentsOf: notifications)) {
            do {
                (configuration.route, configuration.receivers, configuration.integrations, configuration.inhibitRules)
                    = try NotificationConfigurationReader.read(bytes)
            } catch {
                problems += error.problems.map { "\(notifications.path): \($0)" }
            }
        }
        let rulesDirectory = base.appendingPathComponent("rules")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: rulesDirectory.path)) ?? []
        var seen: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            let path = rulesDirectory.appendingPathComponent(name).path
            do {
                for rule in try rules(in: try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), file: path) {
                    if let other = seen[rule.name] {
                        problems.append("\(path): rule \"\(rule.name)\" is also defined in \(other)")
                    }
                    seen[rule.name] = path
                    configuration.rules.append(rule)
                }
            } catch let error as TenantDefinitionError {
                problems += error.problems.map { "\(path): \($0)" }
            } catch {
                problems.append("\(path): cannot be read: \(error.localizedDescription)")
            }
        }
        guard problems.isEmpty else {
            throw ServiceError(.unprocessable, "invalid_rules", "the monitor's configuration in \(directory) has \(problems.count) problem(s)",
                               details: problems)
        }
        return configuration
    }

    /// The rules of one file's bytes; throws every problem with its path in the file.
    static func rules(in bytes: [UInt8], file: String) throws(TenantDefinitionError) -> [MonitorRule] {
        let root = try TenantDefinitionParser.tree(bytes, format: .yaml)
        var reader = DefinitionReader()
        let rules = reader.rules(root, file: file)
        guard reader.problems.isEmpty else { throw TenantDefinitionError(problems: reader.problems) }
        return rules
    }
}

/// Reads `notifications.yaml`: `route` (receiver, matchers, continue, routes, grouping), `receivers` (each a
/// name and at most one integration: `webhook` or `email`; `stream-manager` is always there) and `inhibit_rules`.
enum NotificationConfigurationReader {
    static func read(_ bytes: [UInt8]) throws(TenantDefinitionError)
        -> (NotificationRoute, Set<String>, [ReceiverIntegration], [InhibitRule]) {
        let root = try TenantDefinitionParser.tree(bytes, format: .yaml)
        var reader = DefinitionReader()
        var receivers: Set<String> = [MonitorConfiguration.streamManagerReceiver]
        var route = NotificationRoute(receiver: MonitorConfiguration.streamManagerReceiver)
        var integrations: [ReceiverIntegration] = []
        var inhibitRules: [InhibitRule] = []
        if let document = reader.object(root, at: "", allowed: ["route", "receivers", "inhibit_rules"]) {
            if case .array(let items)? = document["inhibit_rules"] {
                inhibitRules = items.enumerated().compactMap { reader.inhibitRule($1, at: DefinitionReader.path("inhibit_rules", $0)) }
            } else if let other = document["inhibit_rules"] {
                reader.problem("inhibit_rules", "must be an array, not \(other.kindName)")
            }
            if case .array(let items)? = document["receivers"] {
                for (index, item) in items.enumerated() {
                    let path = DefinitionReader.path(DefinitionReader.path("receivers", index), "")
                    guard let members = reader.object(item, at: String(path.dropLast()), allowed: ["name", "webhook", "email"]),
                          let name = reader.required(members["name"], at: path + "name").flatMap({ reader.string($0, at: path + "name") })
                    else { continue }
                    if members["webhook"] != nil && members["email"] != nil {
                        reader.problem(String(path.dropLast()), "takes one integration, webhook or email (define two receivers and route with continue)")
                    } else if let webhook = members["webhook"], let parsed = reader.webhook(webhook, name: name, at: path + "webhook") {
                        integrations.append(.webhook(parsed))
                    } else if let email = members["email"], let parsed = reader.email(email, name: name, at: path + "email") {
                        integrations.append(.email(parsed))
                    }
                    if name == MonitorConfiguration.streamManagerReceiver, !members.keys.filter({ $0 != "name" }).isEmpty {
                        reader.problem(path + "name", "\"\(name)\" is built in and takes no integration")
                    }
                    if !receivers.insert(name).inserted && name != MonitorConfiguration.streamManagerReceiver {
                        reader.problem(path + "name", "receiver \"\(name)\" is defined twice")
                    }
                }
            } else if let other = document["receivers"] {
                reader.problem("receivers", "must be an array, not \(other.kindName)")
            }
            if let value = document["route"], let parsed = reader.route(value, at: "route") {
                route = parsed
                if route.receiver == nil { reader.problem("route.receiver", "is required at the root") }
            }
            for name in route.receiverNames.sorted() where !receivers.contains(name) {
                reader.problem("route", "names the receiver \"\(name)\", which is not defined")
            }
        }
        guard reader.problems.isEmpty else { throw TenantDefinitionError(problems: reader.problems) }
        return (route, receivers, integrations, inhibitRules)
    }
}

extension DefinitionReader {
    private static let routeKeys = ["receiver", "matchers", "continue", "routes", "group_by", "group_wait", "group_interval", "repeat_interval"]

    mutating func route(_ value: JSONValue, at path: String) -> NotificationRoute? {
        guard let members = object(value, at: path, allowed: Self.routeKeys) else { return nil }
        let receiver = members["receiver"].flatMap { string($0, at: Self.path(path, "receiver")) }
        var matchers: [LabelMatcher] = []
        if let list = members["matchers"].flatMap({ strings($0, at: Self.path(path, "matchers")) }) {
            for (index, text) in list.enumerated() {
                if let matcher = LabelMatcher(text) {
                    matchers.append(matcher)
                } else {
                    problem(Self.path(Self.path(path, "matchers"), index), "\"\(text)\" is not a matcher such as severity=\"page\" or tenant=~\"a-.*\"")
                }
            }
        }
        let continues = members["continue"].flatMap { bool($0, at: Self.path(path, "continue")) } ?? false
        var routes: [NotificationRoute] = []
        if let children = members["routes"] {
            if case .array(let items) = children {
                routes = items.enumerated().compactMap { route($1, at: Self.path(Self.path(path, "routes"), $0)) }
            } else {
                problem(Self.path(path, "routes"), "must be an array, not \(children.kindName)")
            }
        }
        return NotificationRoute(receiver: receiver, matchers: matchers, continue: continues, routes: routes,
                                 grouping: grouping(members, at: path))
    }

    /// A route's `group_by` (label names, or `...` for all) and its three intervals (`group_wait` may be `0s`).
    private mutating func grouping(_ members: [String: JSONValue], at path: String) -> RouteGrouping {
        var grouping = RouteGrouping()
        if let value = members["group_by"], let labels = strings(value, at: Self.path(path, "group_by")) {
            for label in labels where label != "..." && label.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) == nil {
                problem(Self.path(path, "group_by"), "\"\(label)\" is not a label name (or ... for every label)")
            }
            if labels.contains("..."), labels.count > 1 { problem(Self.path(path, "group_by"), "... groups by every label and stands alone") }
            grouping.by = labels
        }
        func interval(_ key: String, minimum: Int) -> Int? {
            guard let value = members[key] else { return nil }
            if case .string(let text) = value, let seconds = RuleDuration.seconds(text), seconds >= minimum { return seconds }
            problem(Self.path(path, key), minimum == 0 ? "must be a duration such as 30s" : "must be a duration of at least 1s, such as 5m")
            return nil
        }
        grouping.wait = interval("group_wait", minimum: 0)
        grouping.interval = interval("group_interval", minimum: 1)
        grouping.repeatInterval = interval("repeat_interval", minimum: 1)
        return grouping
    }
}

extension MonitorConfiguration {
    /// Seconds of a duration written as rule files write them (`30s`, `5m`, `1h30m`, `30d`); nil otherwise.
    public static func durationSeconds(_ text: String) -> Int? {
        RuleDuration.seconds(text)
    }
}
