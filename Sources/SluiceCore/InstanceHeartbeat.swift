import Foundation
import Logging
import SluiceStore

/// Registers this process in `sluice.instances` and refreshes its heartbeat periodically, so operators
/// (and later the work queue) can see which instances are alive.
public struct InstanceHeartbeat: Sendable {
    public static let componentName = "instance-heartbeat"

    public let instanceID: String
    private let pool: PostgresConnectionPool
    private let version: String
    private let interval: Duration
    private let logger: Logger

    /// An instance whose heartbeat is older than six of its beats is taken for dead (its uploads in progress
    /// can no longer finish); each instance records its interval, so others judge it by its own.
    public static let beatsToExpiry = 6
    public var expiry: Duration { interval * Self.beatsToExpiry }

    public static let migration = PostgresMigration(version: 7, name: "heartbeat intervals", sql: """
        ALTER TABLE sluice.instances ADD COLUMN heartbeat_seconds double precision;
        COMMENT ON COLUMN sluice.instances.heartbeat_seconds IS 'Seconds between the instance''s heartbeats: it is dead after six missed';
        """)

    /// A new id for this process: host, pid and a random tail.
    public static func makeInstanceID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    public init(pool: PostgresConnectionPool, instanceID: String, version: String, interval: Duration = .seconds(10), logger: Logger) {
        self.instanceID = instanceID
        self.pool = pool
        self.version = version
        self.interval = interval
        self.logger = logger
    }

    /// Records (or refreshes) this instance as alive. Call it once before staging any upload, so other
    /// instances' recovery never takes this one's uploads in progress for dead.
    public func beat() async throws {
        _ = try await pool.execute("""
            INSERT INTO sluice.instances (id, hostname, pid, version, heartbeat_seconds) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET last_seen = now()
            """, [.init(instanceID), .init(ProcessInfo.processInfo.hostName), .init(Int(getpid())), .init(version),
                  .init(interval.secondsValue)])
    }

    /// Beats until the task is cancelled, then removes the instance row.
    public func run(components: ComponentRegistry) async {
        components.setRunning(Self.componentName, true)
        defer { components.setRunning(Self.componentName, false) }
        while !Task.isCancelled {
            do {
                try await beat()
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        _ = try? await pool.execute("DELETE FROM sluice.instances WHERE id = $1", [.init(instanceID)])
    }
}
