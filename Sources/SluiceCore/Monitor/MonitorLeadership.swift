import Dispatch
import SluiceStore
import Synchronization

/// Which Sluice process evaluates rules: the one holding a session-level advisory lock on its own
/// connection. When that process dies its connection closes, the lock is released, and the next process
/// to ask takes over.
final class MonitorLeadership: Sendable {
    private static let lockKey = "sluice.monitor.leader"

    private let connectionString: String
    private let queue = DispatchQueue(label: "sluice.monitor.leadership")
    private let connection = Mutex<PostgresConnection?>(nil)
    /// The server process of the connection holding the lock, while this process leads: what the evaluation's
    /// writes check the lock against (a fence), so a process that lost the lead mid-evaluation writes nothing.
    private let backend = Mutex<Int32?>(nil)

    /// The backend holding the lock for this process, if it leads.
    var fence: Int32? { backend.withLock { $0 } }

    init(connectionString: String) {
        self.connectionString = connectionString
    }

    /// Whether this process leads: keeps the lock it holds (checking its connection still answers), or
    /// tries to take it.
    func acquire() async -> Bool {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.acquireBlocking()) }
        }
    }

    /// Gives the lead up (closing the connection releases the lock).
    func resign() async {
        await withCheckedContinuation { continuation in
            queue.async {
                self.backend.withLock { $0 = nil }
                self.connection.withLock { $0 }?.close()
                self.connection.withLock { $0 = nil }
                continuation.resume()
            }
        }
    }

    private func acquireBlocking() -> Bool {
        if let held = connection.withLock({ $0 }) {
            if (try? held.query("SELECT 1")) != nil { return true }
            backend.withLock { $0 = nil }
            held.close()
            connection.withLock { $0 = nil }
        }
        guard let candidate = try? PostgresConnection(connectionString: connectionString) else { return false }
        let row = try? candidate.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS taken, pg_backend_pid() AS pid",
                                       [.init(Self.lockKey)]).first
        guard let row, (try? row.decode(Bool.self, "taken")) == true, let pid = (try? row.decode(Int32.self, "pid")) ?? nil else {
            candidate.close()
            return false
        }
        connection.withLock { $0 = candidate }
        backend.withLock { $0 = pid }
        return true
    }
}
