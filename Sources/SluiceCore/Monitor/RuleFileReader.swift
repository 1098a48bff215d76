import Foundation

/// Reads a rule file's tree into ``MonitorRule``s, collecting every problem with its path.
extension DefinitionReader {
    private static let ruleKeys = ["name", "kind", "series", "path", "window", "op", "threshold", "for", "keep_firing_for",
                                   "no_data", "scope", "labels", "annotations", "actions", "objective", "period",
                                   "latency_threshold", "burn_windows", "min_events"]
    private static let sloSeries = ["availability", "latency"]

    mutating func rules(_ root: JSONValue, file: String) -> [MonitorRule] {
        guard let document = object(root, at: "", allowed: ["rules"]) else { return [] }
        guard let list = required(document["rules"], at: "rules") else { return [] }
        guard case .array(let items) = list else {
            problem("rules", "must be an array, not \(list.kindName)")
            return []
        }
        var names: Set<String> = []
        return items.enumerated().compactMap { index, item in
            let path = Self.path("rules", index)
            let rule = self.rule(item, at: path, file: file)
            if let rule, !names.insert(rule.name).inserted { problem(path + ".name", "\"\(rule.name)\" is defined twice") }
            return rule
        }
    }

    private mutating func rule(_ value: JSONValue, at path: String, file: String) -> MonitorRule? {
        guard let members = object(value, at: path, allowed: Self.ruleKeys) else { return nil }
        let name = required(members["name"], at: Self.path(path, "name")).flatMap { string($0, at: Self.path(path, "name")) }
        if let name, name.firstMatch(of: /^[A-Za-z_][A-Za-z0-9_]{0,127}$/) == nil {
            problem(Self.path(path, "name"), "\"\(name)\" must be letters, digits and _ (not first), at most 128")
        }
        let kind = required(members["kind"], at: Self.path(path, "kind")).flatMap { string($0, at: Self.path(path, "kind")) }
        let condition: MonitorRule.Condition?
        switch kind {
        case "threshold": condition = threshold(members, at: path).map { .threshold($0) }
        case "slo": condition = objective(members, at: path).map { .objective($0) }
        case nil: condition = nil
        case let other?:
            problem(Self.path(path, "kind"), "\"\(other)\" is not a rule kind (threshold or slo)")
            condition = nil
        }
        for key in kind == "slo" ? ["window", "op", "threshold", "no_data"] : ["objective", "period", "latency_threshold", "burn_windows", "min_events"]
        where members[key] != nil {
            problem(Self.path(path, key), "is not a key of a \(kind ?? "") rule")
        }
        let pendingFor = members["for"].flatMap { duration($0, at: Self.path(path, "for")) } ?? 0
        let keepFiringFor = members["keep_firing_for"].flatMap { duration($0, at: Self.path(path, "keep_firing_for")) } ?? 0
        let labels = members["labels"].flatMap { stringMap($0, at: Self.path(path, "labels"), keys: /^[A-Za-z_][A-Za-z0-9_]*$/) } ?? [:]
        for reserved in ["alertname", "tenant", "slo"] where labels[reserved] != nil {
            problem(Self.path(path, "labels.\(reserved)"), "is set by Sluice")
        }
        let annotations = members["annotations"].flatMap { stringMap($0, at: Self.path(path, "annotations"), keys: /^[A-Za-z_][A-Za-z0-9_]*$/) } ?? [:]
        for (key, template) in annotations.sorted(by: { $0.key < $1.key }) {
            if let unknown = AnnotationTemplate.unknownPlaceholder(in: template) {
                problem(Self.path(path, "annotations.\(key)"), "unknown placeholder {{ \(unknown) }} (use .tenant, .value, .threshold, .name or .labels.<label>)")
            }
        }
        let scope = members["scope"].flatMap { self.scope($0, at: Self.path(path, "scope")) } ?? .everyTenant
        let (firing, resolved) = members["actions"].map { actions($0, at: Self.path(path, "actions")) } ?? ([], [])
        guard let name, let condition else { return nil }
        return MonitorRule(name: name, file: file, condition: condition, scope: scope, pendingFor: pendingFor, keepFiringFor: keepFiringFor,
                           labels: labels, annotations: annotations, firingActions: firing, resolvedActions: resolved)
    }

    private mutating func threshold(_ members: [String: JSONValue], at path: String) -> MonitorRule.Threshold? {
        let seriesName = required(members["series"], at: Self.path(path, "series")).flatMap { string($0, at: Self.path(path, "series")) }
        let series = seriesName.flatMap(Series.init(rawValue:))
        if let seriesName, series == nil {
            problem(Self.path(path, "series"), "unknown series \"\(seriesName)\" (one of \(Series.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let window = required(members["window"], at: Self.path(path, "window")).flatMap { minutes($0, at: Self.path(path, "window")) }
        let opText = required(members["op"], at: Self.path(path, "op")).flatMap { string($0, at: Self.path(path, "op")) }
        let comparison = opText.flatMap(MonitorRule.Comparison.init(rawValue:))
        if let opText, comparison == nil {
            problem(Self.path(path, "op"), "\"\(opText)\" is not one of \(MonitorRule.Comparison.allCases.map(\.rawValue).joined(separator: " "))")
        }
        let threshold = required(members["threshold"], at: Self.path(path, "threshold")).flatMap { number($0, at: Self.path(path, "threshold")) }
        let noData = members["no_data"].flatMap { choice($0, at: Self.path(path, "no_data"), MonitorRule.NoData.self) } ?? .ok
        let kind = members["path"].flatMap { choice($0, at: Self.path(path, "path"), IngestionReport.Kind.self) }
        guard let series, let window, let comparison, let threshold else { return nil }
        return MonitorRule.Threshold(series: series, kind: kind, window: window, comparison: comparison, threshold: threshold, noData: noData)
    }

    private mutating func objective(_ members: [String: JSONValue], at path: String) -> MonitorRule.Objective? {
        let seriesPath = Self.path(path, "series")
        let seriesName = required(members["series"], at: seriesPath).flatMap { string($0, at: seriesPath) }
        if let seriesName, !Self.sloSeries.contains(seriesName) {
            problem(seriesPath, "an objective is over \"availability\" or \"latency\", not \"\(seriesName)\"")
        }
        var indicator: MonitorRule.Objective.Indicator? = seriesName == "availability" ? .availability : nil
        let latencyPath = Self.path(path, "latency_threshold")
        if seriesName == "latency" {
            if let bound = required(members["latency_threshold"], at: latencyPath).flatMap({ seconds($0, at: latencyPath) }) {
                if LatencyBuckets.bounds.contains(bound) {
                    indicator = .latency(bound)
                } else {
                    problem(latencyPath, "must be one of the latency buckets (seconds): \(LatencyBuckets.bounds.map { "\($0)" }.joined(separator: ", "))")
                }
            }
        } else if members["latency_threshold"] != nil {
            problem(latencyPath, "is only for series: latency")
        }
        let objectivePath = Self.path(path, "objective")
        let objective = required(members["objective"], at: objectivePath).flatMap { number($0, at: objectivePath) }
        if let objective, !(objective > 0 && objective < 1) { problem(objectivePath, "must be between 0 and 1 (exclusive), e.g. 0.995") }
        let period = members["period"].map { duration($0, at: Self.path(path, "period")) } ?? 30 * 86_400
        if let period, period < 3600 { problem(Self.path(path, "period"), "must be at least 1h") }
        let burnWindows = members["burn_windows"].map { burnWindowList($0, at: Self.path(path, "burn_windows")) }
            ?? period.map { MonitorRule.Objective.standardBurnWindows(period: $0) }
        let minimumEvents = members["min_events"].flatMap { integer($0, at: Self.path(path, "min_events")) } ?? 10
        let kind = members["path"].flatMap { choice($0, at: Self.path(path, "path"), IngestionReport.Kind.self) }
        guard let indicator, let objective, objective > 0, objective < 1, let period, period >= 3600, let burnWindows else { return nil }
        return MonitorRule.Objective(indicator: indicator, kind: kind, objective: objective, period: period, burnWindows: burnWindows,
                                     minimumEvents: minimumEvents)
    }

    private mutating func burnWindowList(_ value: JSONValue, at path: String) -> [MonitorRule.Objective.BurnWindow]? {
        guard case .array(let items) = value, !items.isEmpty else {
            problem(path, "must be a non-empty array of {long, short, factor, severity}")
            return nil
        }
        let windows = items.enumerated().compactMap { index, item -> MonitorRule.Objective.BurnWindow? in
            let itemPath = Self.path(path, index)
            guard let members = object(item, at: itemPath, allowed: ["long", "short", "factor", "severity"]) else { return nil }
            let long = required(members["long"], at: Self.path(itemPath, "long")).flatMap { minutes($0, at: Self.path(itemPath, "long")) }
            let short = required(members["short"], at: Self.path(itemPath, "short")).flatMap { minutes($0, at: Self.path(itemPath, "short")) }
            let factor = required(members["factor"], at: Self.path(itemPath, "factor")).flatMap { number($0, at: Self.path(itemPath, "factor")) }
            let severity = required(members["severity"], at: Self.path(itemPath, "severity")).flatMap { string($0, at: Self.path(itemPath, "severity")) }
            if let long, let short, short > long { problem(Self.path(itemPath, "short"), "must not be longer than long") }
            if let factor, factor <= 0 { problem(Self.path(itemPath, "factor"), "must be positive") }
            guard let long, let short, short <= long, let factor, factor > 0, let severity else { return nil }
            return .init(long: long, short: short, factor: factor, severity: severity)
        }
        return windows.count == items.count ? windows : nil
    }

    private mutating func scope(_ value: JSONValue, at path: String) -> MonitorRule.Scope? {
        guard let members = object(value, at: path, allowed: ["tenants", "tenant", "selector"]) else { return nil }
        guard members.count == 1 else {
            problem(path, "must name exactly one of tenants, tenant or selector")
            return nil
        }
        if let tenant = members["tenant"] {
            return string(tenant, at: Self.path(path, "tenant")).map { .tenants([$0]) }
        }
        if let selector = members["selector"] {
            return stringMap(selector, at: Self.path(path, "selector"), keys: /^.+$/).map { .metadata($0) }
        }
        guard let tenants = members["tenants"].flatMap({ strings($0, at: Self.path(path, "tenants")) }) else { return nil }
        if tenants.contains("*") { return .everyTenant }
        for (index, tenant) in tenants.enumerated() where !TenantDefinition.isValidID(tenant) {
            problem(Self.path(Self.path(path, "tenants"), index), "\"\(tenant)\" is not a tenant id")
        }
        return .tenants(tenants)
    }

    private mutating func actions(_ value: JSONValue, at path: String) -> ([StreamAction], [StreamAction]) {
        guard let members = object(value, at: path, allowed: ["firing", "resolved"]) else { return ([], []) }
        func list(_ key: String) -> [StreamAction] {
            guard let value = members[key] else { return [] }
            let listPath = Self.path(path, key)
            guard case .array(let items) = value else {
                problem(listPath, "must be an array of actions such as {action: scale_up, by: 1}")
                return []
            }
            return items.enumerated().compactMap { index, item -> StreamAction? in
                let itemPath = Self.path(listPath, index)
                guard case .object(var fields) = item, case .string(let name)? = fields.removeValue(forKey: "action") else {
                    problem(itemPath, "must be an object with \"action\" (scale_up, scale_down, set_desired, throttle or resume)")
                    return nil
                }
                var parameters: [String: Double] = [:]
                for (key, value) in fields {
                    guard case .number(let number) = value else {
                        problem(Self.path(itemPath, key), "must be a number")
                        return nil
                    }
                    parameters[key] = number
                }
                switch Result(catching: { () throws(ServiceError) in try StreamAction(name: name, parameters: parameters) }) {
                case .success(let action): return action
                case .failure(let error):
                    problem(itemPath, error.message)
                    return nil
                }
            }
        }
        return (list("firing"), list("resolved"))
    }

    // MARK: Values

    private mutating func number(_ value: JSONValue, at path: String) -> Double? {
        guard case .number(let number) = value, number.isFinite else {
            problem(path, "\(value.quoted) is not a number")
            return nil
        }
        return number
    }

    private mutating func duration(_ value: JSONValue, at path: String) -> Int? {
        let seconds: Int?
        switch value {
        case .number: seconds = value.integerValue.flatMap { $0 >= 0 ? $0 : nil }
        case .string(let text): seconds = RuleDuration.seconds(text)
        default: seconds = nil
        }
        if seconds == nil { problem(path, "\(value.quoted) is not a duration such as 30s, 5m, 1h or 30d") }
        return seconds
    }

    /// A duration of whole minutes, at least one.
    private mutating func minutes(_ value: JSONValue, at path: String) -> Int? {
        guard let seconds = duration(value, at: path) else { return nil }
        guard seconds >= 60, seconds % 60 == 0, seconds <= 400 * 86_400 else {
            problem(path, "must be whole minutes from 1m to 400d (windows are read per minute)")
            return nil
        }
        return seconds
    }

    /// Seconds given as a duration (`60s`, `1m`) or a number (`0.5`).
    private mutating func seconds(_ value: JSONValue, at path: String) -> Double? {
        if case .number(let number) = value { return number }
        return duration(value, at: path).map(Double.init)
    }

    private mutating func choice<T: RawRepresentable<String> & CaseIterable>(_ value: JSONValue, at path: String, _ type: T.Type) -> T? {
        guard let text = string(value, at: path) else { return nil }
        guard let choice = T(rawValue: text) else {
            problem(path, "\"\(text)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return choice
    }

    private mutating func stringMap(_ value: JSONValue, at path: String, keys: Regex<Substring>) -> [String: String]? {
        guard case .object(let members) = value else {
            problem(path, "must be an object, not \(value.kindName)")
            return nil
        }
        var map: [String: String] = [:]
        for (key, member) in members.sorted(by: { $0.key < $1.key }) {
            if key.wholeMatch(of: keys) == nil { problem(Self.path(path, key), "is not a valid name") }
            switch member {
            case .string(let text): map[key] = text
            case .number, .bool: map[key] = member.quoted
            default: problem(Self.path(path, key), "must be a string")
            }
        }
        return map
    }
}
