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

    /// An instance whose heartbeat is older than this is taken for dead (its uploads in progress can no
    /// longer finish): six beats.
    public var expiry: Duration { interval * 6 }

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
            INSERT INTO sluice.instances (id, hostname, pid, version) VALUES ($1, $2, $3, $4)
            ON CONFLICT (id) DO UPDATE SET last_seen = now()
            """, [.init(instanceID), .init(ProcessInfo.processInfo.hostName), .init(Int(getpid())), .init(version)])
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
