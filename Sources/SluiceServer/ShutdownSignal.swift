import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot signal to stop the service: fired by SIGINT/SIGTERM or programmatically.
public final class ShutdownSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let sources = Mutex<[SignalSource]>([])

    /// Keeps a dispatch signal source alive; it is only created, resumed and retained.
    private struct SignalSource: @unchecked Sendable {
        let source: DispatchSourceSignal
    }

    public init() {}

    /// Fires on SIGINT or SIGTERM. Also ignores SIGPIPE: a peer closing a socket must not kill the process.
    public static func onTerminationSignals() -> ShutdownSignal {
        let signal = ShutdownSignal()
        Glibc.signal(SIGPIPE, SIG_IGN)
        for number in [SIGINT, SIGTERM] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { signal.fire() }
            source.resume()
            signal.sources.withLock { $0.append(SignalSource(source: source)) }
        }
        return signal
    }

    public func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns once the signal has fired.
    public func wait() async {
        await withCheckedContinuation { continuation in
            let fired = state.withLock { state -> Bool in
                if !state.fired { state.waiters.append(continuation) }
                return state.fired
            }
            if fired { continuation.resume() }
        }
    }
}
