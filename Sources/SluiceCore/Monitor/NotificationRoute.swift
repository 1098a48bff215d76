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

/// A node of the route tree: notifications whose labels satisfy every matcher go to its receiver, unless a
/// child route takes them; the first matching child wins unless it says `continue`.
public struct NotificationRoute: Sendable, Equatable {
    /// Inherited from the parent when nil.
    public var receiver: String?
    public var matchers: [LabelMatcher]
    public var `continue`: Bool
    public var routes: [NotificationRoute]

    public init(receiver: String?, matchers: [LabelMatcher] = [], continue: Bool = false, routes: [NotificationRoute] = []) {
        self.receiver = receiver
        self.matchers = matchers
        self.continue = `continue`
        self.routes = routes
    }

    /// The receivers for `labels`, in route order, each once.
    public func receivers(for labels: [String: String]) -> [String] {
        var names: [String] = []
        for name in match(labels, inherited: receiver) where !names.contains(name) { names.append(name) }
        return names
    }

    private func match(_ labels: [String: String], inherited: String?) -> [String] {
        let own = receiver ?? inherited
        var found: [String] = []
        for route in routes where route.matchers.allSatisfy({ $0.matches(labels) }) {
            found += route.match(labels, inherited: own)
            if !route.continue { return found }
        }
        return found.isEmpty ? own.map { [$0] } ?? [] : found
    }

    /// Every receiver the tree names.
    var receiverNames: Set<String> {
        routes.reduce(into: Set(receiver.map { [$0] } ?? [])) { $0.formUnion($1.receiverNames) }
    }
}
