import Synchronization

/// Wakes a polling loop early: the loop calls ``wait(timeout:)`` between rounds instead of sleeping,
/// and whoever makes new work for it calls ``signal()``.
///
/// A signal wakes one waiting task or, if none waits, is kept for the next call to `wait(timeout:)`,
/// so a signal sent while the loop is busy is not lost; signals kept while nobody waits coalesce.
/// A cancelled waiter returns at once and leaves later signals to the others.
final class WakeUpSignal: Sendable {
    private struct State {
        var pending = false
        var nextID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// Wakes the longest-waiting task, or the next one to wait.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.pending = true
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        waiter?.resume()
    }

    /// Returns when signalled, after `timeout`, or when the task is cancelled, whichever comes first.
    func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns when signalled or when the task is cancelled.
    private func waitForSignal() async {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    // A task is marked cancelled before its handler runs, so this check under the lock
                    // covers a handler that ran before the waiter was added (and found nothing to resume).
                    if Task.isCancelled { return true }
                    state.waiters.append((id, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume()
        }
    }
}
