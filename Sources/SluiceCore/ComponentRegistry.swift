import Synchronization

/// Background components and whether each is running, for the readiness probe.
public final class ComponentRegistry: Sendable {
    private let states = Mutex<[String: Bool]>([:])

    public init() {}

    /// Records that `name` started (`true`) or stopped (`false`).
    public func setRunning(_ name: String, _ running: Bool) {
        states.withLock { $0[name] = running }
    }

    /// Every registered component with its state, sorted by name.
    public var snapshot: [(name: String, running: Bool)] {
        states.withLock { $0.map { (name: $0.key, running: $0.value) } }.sorted { $0.name < $1.name }
    }
}
