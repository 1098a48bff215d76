import Foundation

/// An instruction to a tenant's stream path: what the monitor (through ``StreamControl``) and the admin
/// endpoint `POST /api/v1/tenants/{tenant}/stream/actions` send the stream manager.
public enum StreamAction: Sendable, Equatable {
    case scaleUp(by: Int)
    case scaleDown(by: Int)
    case setDesired(Int)
    /// Tightens the tenant's message rate until it expires or is lifted by `resume`.
    case throttle(messagesPerSecond: Double, forSeconds: Int)
    case resume

    /// The action's name in the API and the metrics.
    public var name: String {
        switch self {
        case .scaleUp: "scale_up"
        case .scaleDown: "scale_down"
        case .setDesired: "set_desired"
        case .throttle: "throttle"
        case .resume: "resume"
        }
    }

    /// The action's parameters, as the API names them.
    public var parameters: [String: Double] {
        switch self {
        case .scaleUp(let by), .scaleDown(let by): ["by": Double(by)]
        case .setDesired(let n): ["n": Double(n)]
        case .throttle(let rate, let seconds): ["messages_per_second": rate, "for_seconds": Double(seconds)]
        case .resume: [:]
        }
    }

    /// The longest throttle.
    public static let maximumThrottleSeconds = 86_400

    /// Reads `{"action": "scale_up", "by": 1}` and the like; throws `invalid_action` with what is wrong.
    public init(name: String, parameters: [String: Double]) throws(ServiceError) {
        func count(_ key: String, minimum: Int) throws(ServiceError) -> Int {
            guard let value = parameters[key], value == value.rounded(), value >= Double(minimum), value <= 1_000_000 else {
                throw ServiceError(.invalid, "invalid_action", "\(name) needs \"\(key)\": an integer of at least \(minimum)")
            }
            return Int(value)
        }
        let allowed: Set<String>
        switch name {
        case "scale_up":
            self = .scaleUp(by: try count("by", minimum: 1))
            allowed = ["by"]
        case "scale_down":
            self = .scaleDown(by: try count("by", minimum: 1))
            allowed = ["by"]
        case "set_desired":
            self = .setDesired(try count("n", minimum: 0))
            allowed = ["n"]
        case "throttle":
            guard let rate = parameters["messages_per_second"], StreamRate.allowedMessagesPerSecond.contains(rate) else {
                throw ServiceError(.invalid, "invalid_action", "throttle needs \"messages_per_second\": a number from 0.001 to 1000000000")
            }
            let seconds = try count("for_seconds", minimum: 1)
            guard seconds <= Self.maximumThrottleSeconds else {
                throw ServiceError(.invalid, "invalid_action", "throttle's \"for_seconds\" must be at most \(Self.maximumThrottleSeconds)")
            }
            self = .throttle(messagesPerSecond: rate, forSeconds: seconds)
            allowed = ["messages_per_second", "for_seconds"]
        case "resume":
            self = .resume
            allowed = []
        default:
            throw ServiceError(.invalid, "invalid_action",
                               "unknown action \"\(name)\" (expected scale_up, scale_down, set_desired, throttle or resume)")
        }
        if let extra = parameters.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ServiceError(.invalid, "invalid_action", "\(name) takes no \"\(extra)\"")
        }
    }
}

/// The stream manager as the rest of Sluice drives it: the one way back into the stream path, for the
/// monitor's notifications and the admin API alike.
public protocol StreamControl: Sendable {
    /// Validates `action` against the tenant's bounds, applies it, logs it (with `source`, e.g. `api`,
    /// `alert:<rule>` or `alertmanager:<alertname>`, and the alert that caused it) and returns the log entry.
    /// An action outside the bounds is `rejected` (logged too); scaling past a bound stops at it (`clamped`).
    func apply(_ action: StreamAction, tenant: String, source: String, cause: StreamActionCause?) async throws -> StreamActionRecord
}

/// The alert that caused a stream action: the monitor's or an inbound Alertmanager's.
public struct StreamActionCause: Sendable, Codable, Equatable {
    public var alert: String
    /// `firing` or `resolved`.
    public var status: String
    public var fingerprint: String
    public var labels: [String: String]
    public var value: Double?

    public init(alert: String, status: String, fingerprint: String, labels: [String: String], value: Double?) {
        self.alert = alert
        self.status = status
        self.fingerprint = fingerprint
        self.labels = labels
        self.value = value
    }
}

/// One tenant's stream instances as the manager in this process sees them.
public struct StreamInstancesState: Sendable, Codable, Equatable {
    /// One running instance.
    public struct Instance: Sendable, Codable, Equatable {
        public var id: Int
        public var kind: String
        public var startedAt: Date
        /// The process of an external app's instance.
        public var pid: Int32?
        public var restarts: Int

        enum CodingKeys: String, CodingKey {
            case id, kind, pid, restarts
            case startedAt = "started_at"
        }
    }

    /// An active throttle.
    public struct Throttle: Sendable, Codable, Equatable {
        public var messagesPerSecond: Double
        public var until: Date

        enum CodingKeys: String, CodingKey {
            case until
            case messagesPerSecond = "messages_per_second"
        }
    }

    public var desired: Int
    public var running: Int
    public var min: Int
    public var max: Int
    public var startOnDemand: Bool
    public var idleStopSeconds: Int
    public var throttle: Throttle?
    public var instances: [Instance]

    enum CodingKeys: String, CodingKey {
        case desired, running, min, max, throttle, instances
        case startOnDemand = "start_on_demand", idleStopSeconds = "idle_stop_seconds"
    }
}

/// An entry of the stream manager's action log.
public struct StreamActionRecord: Sendable, Codable, Equatable {
    public var id: Int64?
    public var tenant: String
    public var action: String
    public var parameters: [String: Double]
    public var source: String
    /// `applied`, `clamped` (scaling stopped at a bound), `rejected`, or `failed` (an alert's action for a tenant
    /// deleted since).
    public var outcome: String
    public var message: String?
    /// The tenant's state after the action.
    public var state: StreamInstancesState
    /// The Sluice process that applied it.
    public var instanceID: String
    public var at: Date
    /// The alert that caused it, if one did.
    public var cause: StreamActionCause?

    enum CodingKeys: String, CodingKey {
        case id, tenant, action, parameters, source, outcome, message, state, at, cause
        case instanceID = "instance_id"
    }
}
