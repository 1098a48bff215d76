import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A request to read configuration files again (the TLS certificate), fired by SIGHUP or programmatically.
/// Handlers run on a global dispatch queue, never on Swift's cooperative pool, so they may read files.
public final class ReloadSignal: Sendable {
    private let handlers = Mutex<[@Sendable () -> Void]>([])
    private let source = Mutex<SignalSource?>(nil)

    /// Keeps the dispatch signal source alive; it is only created, resumed and retained.
    private struct SignalSource: @unchecked Sendable {
        let source: DispatchSourceSignal
    }

    public init() {}

    /// Fires on every SIGHUP.
    public static func onHangup() -> ReloadSignal {
        let reload = ReloadSignal()
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { reload.fire() }
        source.resume()
        reload.source.withLock { $0 = SignalSource(source: source) }
        return reload
    }

    /// Runs every handler, one after the other, on a global queue.
    public func fire() {
        let handlers = self.handlers.withLock { $0 }
        DispatchQueue.global().async { handlers.forEach { $0() } }
    }

    /// Adds `handler`, run at every later fire.
    func onFire(_ handler: @escaping @Sendable () -> Void) {
        handlers.withLock { $0.append(handler) }
    }
}
