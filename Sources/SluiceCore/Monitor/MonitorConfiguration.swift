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
    /// The webhook receivers among them.
    public var webhooks: [WebhookReceiver.Configuration] = []
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
                (configuration.route, configuration.receivers, configuration.webhooks, configuration.inhibitRules)
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

/// Reads `notifications.yaml`: `route` (receiver, matchers, continue, routes) and `receivers` (each a name and
/// at most one integration: `webhook`; `stream-manager` is always there).
enum NotificationConfigurationReader {
    static func read(_ bytes: [UInt8]) throws(TenantDefinitionError)
        -> (NotificationRoute, Set<String>, [WebhookReceiver.Configuration], [InhibitRule]) {
        let root = try TenantDefinitionParser.tree(bytes, format: .yaml)
        var reader = DefinitionReader()
        var receivers: Set<String> = [MonitorConfiguration.streamManagerReceiver]
        var route = NotificationRoute(receiver: MonitorConfiguration.streamManagerReceiver)
        var webhooks: [WebhookReceiver.Configuration] = []
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
                    guard let members = reader.object(item, at: String(path.dropLast()), allowed: ["name", "stream_manager", "webhook"]),
                          let name = reader.required(members["name"], at: path + "name").flatMap({ reader.string($0, at: path + "name") })
                    else { continue }
                    if let webhook = members["webhook"], let parsed = reader.webhook(webhook, name: name, at: path + "webhook") {
                        webhooks.append(parsed)
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
        return (route, receivers, webhooks, inhibitRules)
    }
}

extension DefinitionReader {
    /// An inhibition rule: `source_matchers`, `target_matchers` (each at least one) and `equal` (labels).
    mutating func inhibitRule(_ value: JSONValue, at path: String) -> InhibitRule? {
        guard let members = object(value, at: path, allowed: ["source_matchers", "target_matchers", "equal"]) else { return nil }
        func matchers(_ key: String) -> [LabelMatcher]? {
            let listPath = Self.path(path, key)
            guard let texts = required(members[key], at: listPath).flatMap({ strings($0, at: listPath) }) else { return nil }
            let parsed = texts.compactMap(LabelMatcher.init)
            guard !texts.isEmpty, parsed.count == texts.count else {
                problem(listPath, "must hold matchers such as severity=\"page\"")
                return nil
            }
            return parsed
        }
        let source = matchers("source_matchers")
        let target = matchers("target_matchers")
        let equal = members["equal"].flatMap { strings($0, at: Self.path(path, "equal")) } ?? []
        guard let source, let target else { return nil }
        return InhibitRule(sourceMatchers: source, targetMatchers: target, equal: equal)
    }

    /// A receiver's `webhook`: `url` (http or https), `timeout`, `bearer_token` or `basic_auth: {username,
    /// password}`, `signature_secret`, `tls_verify`, `ca_file`, `max_alerts`, `send_resolved`, `queue_capacity`.
    mutating func webhook(_ value: JSONValue, name: String, at path: String) -> WebhookReceiver.Configuration? {
        guard let members = object(value, at: path, allowed: ["url", "timeout", "bearer_token", "basic_auth", "signature_secret",
                                                             "tls_verify", "ca_file", "max_alerts", "send_resolved", "queue_capacity"])
        else { return nil }
        guard let url = required(members["url"], at: Self.path(path, "url")).flatMap({ string($0, at: Self.path(path, "url")) }) else { return nil }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            problem(Self.path(path, "url"), "\"\(url)\" is not an http:// or https:// URL")
            return nil
        }
        var webhook = WebhookReceiver.Configuration(name: name, url: url)
        if let timeout = members["timeout"] {
            if case .string(let text) = timeout, let seconds = RuleDuration.seconds(text), (1...300).contains(seconds) {
                webhook.timeout = .seconds(seconds)
            } else {
                problem(Self.path(path, "timeout"), "must be a duration from 1s to 5m")
            }
        }
        webhook.bearerToken = members["bearer_token"].flatMap { string($0, at: Self.path(path, "bearer_token")) }
        if let basic = members["basic_auth"], let auth = object(basic, at: Self.path(path, "basic_auth"), allowed: ["username", "password"]) {
            let username = required(auth["username"], at: Self.path(path, "basic_auth.username")).flatMap { string($0, at: Self.path(path, "basic_auth.username")) }
            let password = required(auth["password"], at: Self.path(path, "basic_auth.password")).flatMap { string($0, at: Self.path(path, "basic_auth.password"), allowEmpty: true) }
            if let username, let password { webhook.basicAuth = (username, password) }
        }
        if webhook.bearerToken != nil && members["basic_auth"] != nil { problem(path, "takes bearer_token or basic_auth, not both") }
        webhook.signatureSecret = members["signature_secret"].flatMap { string($0, at: Self.path(path, "signature_secret")) }
        webhook.verifyTLS = members["tls_verify"].flatMap { bool($0, at: Self.path(path, "tls_verify")) } ?? true
        webhook.caFile = members["ca_file"].flatMap { string($0, at: Self.path(path, "ca_file")) }
        webhook.maxAlerts = members["max_alerts"].flatMap { integer($0, at: Self.path(path, "max_alerts")) } ?? 0
        webhook.sendResolved = members["send_resolved"].flatMap { bool($0, at: Self.path(path, "send_resolved")) } ?? true
        webhook.queueCapacity = members["queue_capacity"].flatMap { integer($0, at: Self.path(path, "queue_capacity"), minimum: 1) } ?? 1000
        return webhook
    }

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
