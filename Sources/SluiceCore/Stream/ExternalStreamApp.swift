import Foundation
import Synchronization

/// A tenant's external stream app, running: a long-lived process that answers each NDJSON line written to its
/// stdin with exactly one line on its stdout. Owned by one stream instance; its blocking calls run on a
/// dedicated thread.
final class ExternalStreamApp: Sendable {
    /// Why an exchange failed: the app is then killed and started again.
    struct Fault: Error, Sendable, CustomStringConvertible {
        enum Kind: String, Sendable {
            /// It exited (or closed its stdout).
            case crashed
            /// No answer within the timeout.
            case hung
            /// An answer that is not a JSON object, or more lines than messages.
            case misbehaved
        }

        let kind: Kind
        /// The answers read before the fault, to the first messages.
        let answers: [[UInt8]]
        let detail: String

        var description: String { "\(kind.rawValue) after \(answers.count) answers: \(detail)" }
    }

    let pid: Int32
    private let process: Mutex<ExternalAppProcess>
    /// Whether it has answered a message yet: until then, its start (the sandbox, the interpreter) counts too.
    private let answered = Atomic<Bool>(false)

    var hasAnswered: Bool { answered.load(ordering: .relaxed) }
    /// The most bytes one answer line may hold.
    static let maximumLineBytes = RecordStream.maximumRecordBytes

    init(_ process: ExternalAppProcess) {
        pid = process.pid
        self.process = Mutex(process)
    }

    /// Writes `lines` (each without its line break) and reads as many answer lines within `timeout`; an app
    /// that has not answered yet gets `startAllowance` more for its first answer. Blocking: call it on a
    /// dedicated thread.
    func exchange(_ lines: [[UInt8]], timeout: Duration, startAllowance: Duration) throws(Fault) -> [[UInt8]] {
        var deadline = ContinuousClock.now + timeout + (hasAnswered ? .zero : startAllowance)
        return try process.withLock { (process) throws(Fault) -> [[UInt8]] in
            var input: [UInt8] = []
            input.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
            for line in lines {
                input += line
                input.append(UInt8(ascii: "\n"))
            }
            var written = 0
            var answers: [[UInt8]] = []
            var partial: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            // Bytes already waiting are answers to nothing: the app wrote more lines than it was given.
            if Self.readable(process.stdout) {
                throw Fault(kind: .misbehaved, answers: [], detail: "it wrote a line that answers no message")
            }
            while answers.count < lines.count {
                let now = ContinuousClock.now
                guard now < deadline else {
                    throw Fault(kind: .hung, answers: answers, detail: "no answer within the timeout")
                }
                var fds = [pollfd(fd: process.stdout, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: process.stderr, events: Int16(POLLIN), revents: 0)]
                if written < input.count { fds.append(pollfd(fd: process.stdin, events: Int16(POLLOUT), revents: 0)) }
                let wait = Int32(max(1, min(100, ((deadline - now) / .milliseconds(1)).rounded(.up))))
                guard poll(&fds, nfds_t(fds.count), wait) >= 0 || errno == EINTR else {
                    throw Fault(kind: .crashed, answers: answers, detail: "poll failed: \(String(cString: strerror(errno)))")
                }
                if fds.count > 2, fds[2].revents != 0 {
                    let count = input[written...].withUnsafeBytes { write(process.stdin, $0.baseAddress, $0.count) }
                    if count > 0 {
                        written += count
                    } else if count < 0, errno != EAGAIN, errno != EINTR {
                        throw Fault(kind: .crashed, answers: answers, detail: "its stdin closed: \(String(cString: strerror(errno)))")
                    }
                }
                if fds[1].revents != 0 {
                    let count = read(process.stderr, &buffer, buffer.count)
                    if count > 0 {
                        process.keepStderr(buffer[..<count])
                    } else if count == 0 {
                        close(process.stderr)
                        process.stderr = -1
                    }
                }
                guard fds[0].revents != 0 else { continue }
                let count = read(process.stdout, &buffer, buffer.count)
                if count < 0, errno == EAGAIN || errno == EINTR { continue }
                guard count > 0 else {
                    throw Fault(kind: .crashed, answers: answers, detail: "it exited or closed its stdout")
                }
                var start = 0
                for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                    partial += buffer[start..<index]
                    start = index + 1
                    if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
                    answers.append(partial)
                    if !answered.exchange(true, ordering: .relaxed) { deadline = min(deadline, .now + timeout) }
                    partial = []
                    guard answers.count <= lines.count else {
                        throw Fault(kind: .misbehaved, answers: Array(answers.prefix(lines.count)), detail: "it wrote more lines than it was given")
                    }
                }
                partial += buffer[start..<count]
                if partial.count > Self.maximumLineBytes {
                    throw Fault(kind: .misbehaved, answers: answers, detail: "an answer is longer than \(Self.maximumLineBytes) bytes")
                }
            }
            if !partial.isEmpty { throw Fault(kind: .misbehaved, answers: answers, detail: "it wrote more than one line per message") }
            return answers
        }
    }

    /// Kills the app's process group and reaps it; returns how it ended and the end of what it wrote on stderr
    /// (what is left in the pipe is read first, for at most 100 ms). Blocking: call it on a dedicated thread.
    @discardableResult
    func stop() -> (ending: String, stderr: String) {
        process.withLock { process in
            let status = process.finish()
            let drainEnd = ContinuousClock.now + .milliseconds(100)
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while process.stderr >= 0, ContinuousClock.now < drainEnd {
                var entry = pollfd(fd: process.stderr, events: Int16(POLLIN), revents: 0)
                guard poll(&entry, 1, 20) > 0 else { continue }
                let count = read(process.stderr, &buffer, buffer.count)
                guard count > 0 else { break }
                process.keepStderr(buffer[..<count])
            }
            process.closePipes()
            // Under bubblewrap a status of 128 + N is the app's death by signal N; a SIGKILL is Sluice's own.
            let ending = status & 0x7F != 0 ? "signal \(status & 0x7F)" : "exit status \((status >> 8) & 0xFF)"
            return (ending, String(decoding: process.stderrBytes.suffix(2048), as: UTF8.self))
        }
    }

    private static func readable(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0 && entry.revents & Int16(POLLIN) != 0
    }
}
