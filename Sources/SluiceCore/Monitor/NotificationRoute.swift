import Foundation

/// A label matcher as Alertmanager writes them: `severity="page"`, `tenant=~"tenant-.*"`, `team!=ingest`.
public struct LabelMatcher: Sendable, Equatable, CustomStringConvertible {
    public enum Operator: String, Sendable, CaseIterable {
        case equal = "=", notEqual = "!=", matches = "=~", notMatches = "!~"
    }

    public var name: String
    public var op: Operator
    public var value: String

    /// Parses `name op value` (the value optionally in double quotes); nil when malformed or the regular
    /// expression does not compile.
    public init?(_ text: String) {
        guard let match = text.wholeMatch(of: /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*/) else { return nil }
        var value = String(match.output.3)
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        guard let op = Operator(rawValue: String(match.output.2)) else { return nil }
        if op == .matches || op == .notMatches, (try? Regex(value)) == nil { return nil }
        self.name = String(match.output.1)
        self.op = op
        self.value = value
    }

    /// Whether `labels` satisfy it; an absent label is the empty string, and expressions are anchored.
    public func matches(_ labels: [String: String]) -> Bool {
        let actual = labels[name] ?? ""
        switch op {
        case .equal: return actual == value
        case .notEqual: return actual != value
        case .matches, .notMatches:
            let whole = (try? Regex(value)).map { actual.wholeMatch(of: $0) != nil } ?? false
            return op == .matches ? whole : !whole
        }
    }

    public var description: String { "\(name)\(op.rawValue)\"\(value)\"" }
}

/// How a route groups its alerts and times their notifications, with Alertmanager's meaning; an unset field
/// is inherited from the parent route (at the root: group by nothing, 30s, 5m, 4h).
public struct RouteGrouping: Sendable, Equatable {
    /// The labels alerts are grouped by; `["..."]` groups by every label.
    public var by: [String]?
    /// Seconds a new group waits for more alerts before its first notification.
    public var wait: Int?
    /// Seconds between a group's notifications of new or resolved alerts.
    public var interval: Int?
    /// Seconds before a group's unchanged firing alerts are notified again.
    public var repeatInterval: Int?

    public init(by: [String]? = nil, wait: Int? = nil, interval: Int? = nil, repeatInterval: Int? = nil) {
        self.by = by
        self.wait = wait
        self.interval = interval
        self.repeatInterval = repeatInterval
    }

    static let root = RouteGrouping(by: [], wait: 30, interval: 300, repeatInterval: 14_400)

    /// These settings with the unset ones taken from `parent`.
    func inheriting(_ parent: RouteGrouping) -> RouteGrouping {
        RouteGrouping(by: by ?? parent.by, wait: wait ?? parent.wait, interval: interval ?? parent.interval,
                      repeatInterval: repeatInterval ?? parent.repeatInterval)
    }
}

/// Where a route sends an alert: a receiver, and the group (of the route) the alert joins there.
public struct RouteDestination: Sendable, Equatable {
    public var receiver: String
    /// Alertmanager's route key: `{}` at the root, then each route's matchers, `{}/{severity="page"}`.
    public var routeKey: String
    /// Fully resolved: every field set.
    public var grouping: RouteGrouping

    /// The group `labels` join: its key (`<route key>:{name="value", …}`) and labels.
    public func group(of labels: [String: String]) -> (key: String, labels: [String: String]) {
        let by = grouping.by ?? []
        let chosen = by.contains("...") ? labels : labels.filter { by.contains($0.key) }
        let text = chosen.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoted($0.value))" }.joined(separator: ", ")
        return ("\(routeKey):{\(text)}", chosen)
    }

    /// A label value quoted as Alertmanager's group keys show values (Go's `%q`; JSON's escapes agree for
    /// quotes, backslashes and line breaks).
    private static func quoted(_ value: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}

/// A node of the route tree: notifications whose labels satisfy every matcher go to its receiver, unless a
/// child route takes them; the first matching child wins unless it says `continue`.
public struct NotificationRoute: Sendable, Equatable {
    /// Inherited from the parent when nil.
    public var receiver: String?
    public var matchers: [LabelMatcher]
    public var `continue`: Bool
    public var routes: [NotificationRoute]
    public var grouping: RouteGrouping

    public init(receiver: String?, matchers: [LabelMatcher] = [], continue: Bool = false, routes: [NotificationRoute] = [],
                grouping: RouteGrouping = RouteGrouping()) {
        self.receiver = receiver
        self.matchers = matchers
        self.continue = `continue`
        self.routes = routes
        self.grouping = grouping
    }

    /// The receivers for `labels`, in route order, each once.
    public func receivers(for labels: [String: String]) -> [String] {
        var names: [String] = []
        for destination in destinations(for: labels) where !names.contains(destination.receiver) { names.append(destination.receiver) }
        return names
    }

    /// Where `labels` go: one destination per matching route (a receiver reached by two routes gets two groups,
    /// as in Alertmanager).
    public func destinations(for labels: [String: String]) -> [RouteDestination] {
        match(labels, inherited: receiver, key: "{}", grouping: grouping.inheriting(.root))
    }

    private func match(_ labels: [String: String], inherited: String?, key: String, grouping: RouteGrouping) -> [RouteDestination] {
        let own = receiver ?? inherited
        var found: [RouteDestination] = []
        for route in routes where route.matchers.allSatisfy({ $0.matches(labels) }) {
            let childKey = key + "/{" + route.matchers.map(\.description).joined(separator: ",") + "}"
            found += route.match(labels, inherited: own, key: childKey, grouping: route.grouping.inheriting(grouping))
            if !route.continue { return found }
        }
        guard found.isEmpty else { return found }
        return own.map { [RouteDestination(receiver: $0, routeKey: key, grouping: grouping)] } ?? []
    }

    /// Every receiver the tree names.
    var receiverNames: Set<String> {
        routes.reduce(into: Set(receiver.map { [$0] } ?? [])) { $0.formUnion($1.receiverNames) }
    }
}
