import Dispatch
import SluiceCommon
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
    /// Whatever the shutdown waits for, the process ends: `forcedExitAfter` the first signal, or at a second
    /// one, it exits at once (status 70, or 130 for the second signal), saying why on stderr.
    public static func onTerminationSignals(forcedExitAfter limit: Duration) -> ShutdownSignal {
        let signal = ShutdownSignal()
        Glibc.signal(SIGPIPE, SIG_IGN)
        for number in [SIGINT, SIGTERM] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard !signal.state.withLock({ $0.fired }) else {
                    Self.exitNow(130, "a second termination signal: exiting without finishing the shutdown")
                }
                signal.fire()
                DispatchQueue.global().asyncAfter(deadline: .now() + limit.secondsValue) {
                    Self.exitNow(70, "the shutdown took longer than \(limit.secondsValue) s: exiting without finishing it")
                }
            }
            source.resume()
            signal.sources.withLock { $0.append(SignalSource(source: source)) }
        }
        return signal
    }

    private static func exitNow(_ status: Int32, _ reason: String) -> Never {
        let line = Array("sluice: \(reason)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        _exit(status)
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
