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
                (configuration.route, configuration.receivers) = try NotificationConfigurationReader.read(bytes)
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

/// Reads `notifications.yaml`: `route` (receiver, matchers, continue, routes) and `receivers` (each a name;
/// `stream_manager: {}` is the only integration yet, and `stream-manager` is always there).
enum NotificationConfigurationReader {
    static func read(_ bytes: [UInt8]) throws(TenantDefinitionError) -> (NotificationRoute, Set<String>) {
        let root = try TenantDefinitionParser.tree(bytes, format: .yaml)
        var reader = DefinitionReader()
        var receivers: Set<String> = [MonitorConfiguration.streamManagerReceiver]
        var route = NotificationRoute(receiver: MonitorConfiguration.streamManagerReceiver)
        if let document = reader.object(root, at: "", allowed: ["route", "receivers"]) {
            if case .array(let items)? = document["receivers"] {
                for (index, item) in items.enumerated() {
                    let path = DefinitionReader.path(DefinitionReader.path("receivers", index), "")
                    guard let members = reader.object(item, at: String(path.dropLast()), allowed: ["name", "stream_manager"]),
                          let name = reader.required(members["name"], at: path + "name").flatMap({ reader.string($0, at: path + "name") })
                    else { continue }
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
        return (route, receivers)
    }
}

extension DefinitionReader {
    /// Alertmanager's grouping keys are accepted (and used by notifications that group).
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
        return NotificationRoute(receiver: receiver, matchers: matchers, continue: continues, routes: routes)
    }
}

extension MonitorConfiguration {
    /// Seconds of a duration written as rule files write them (`30s`, `5m`, `1h30m`, `30d`); nil otherwise.
    public static func durationSeconds(_ text: String) -> Int? {
        RuleDuration.seconds(text)
    }
}
