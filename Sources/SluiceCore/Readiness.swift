import SluiceStore

/// The result of one readiness check.
public struct ReadinessCheck: Sendable, Encodable, Equatable {
    public let name: String
    public let ok: Bool
    public let message: String?

    public init(name: String, ok: Bool, message: String? = nil) {
        self.name = name
        self.ok = ok
        self.message = message
    }
}

/// Decides whether this instance can take traffic: the store answers, the platform schema is
/// migrated, and every background component runs.
public struct Readiness: Sendable {
    private let pool: PostgresConnectionPool
    private let migrator: PostgresMigrator
    private let components: ComponentRegistry

    public init(pool: PostgresConnectionPool, migrator: PostgresMigrator, components: ComponentRegistry) {
        self.pool = pool
        self.migrator = migrator
        self.components = components
    }

    /// Runs every check; names are `store`, `migrations` and `component:<name>`.
    public func check() async -> [ReadinessCheck] {
        var checks: [ReadinessCheck] = []
        do {
            _ = try await pool.query("SELECT 1")
            checks.append(ReadinessCheck(name: "store", ok: true))
            let current = try await migrator.isUpToDate(using: pool)
            checks.append(ReadinessCheck(name: "migrations", ok: current,
                                         message: current ? nil : "platform schema migrations are not all applied"))
        } catch {
            checks.append(ReadinessCheck(name: "store", ok: false, message: "\(error)"))
            checks.append(ReadinessCheck(name: "migrations", ok: false, message: "unknown: the store is unreachable"))
        }
        for component in components.snapshot {
            checks.append(ReadinessCheck(name: "component:\(component.name)", ok: component.running,
                                         message: component.running ? nil : "not running"))
        }
        return checks
    }
}
