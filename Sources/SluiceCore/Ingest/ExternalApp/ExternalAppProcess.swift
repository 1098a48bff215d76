import CSubprocess
import Foundation
import SluiceSystem

/// One started external app: the leader of its own process group, and the parent's ends of its
/// stdout and stderr pipes (and of its stdin pipe, for a stream app). Used by one thread at a time, from
/// start to ``supervise(deadline:shouldStop:onStdout:)`` or ``terminate()``.
struct ExternalAppProcess {
    /// How the process ended, and the first bytes of its standard error.
    struct Termination {
        /// The raw `waitpid` status.
        let status: Int32
        let timedOut: Bool
        let stderr: [UInt8]
        let stderrTruncated: Bool
        /// Whether the process reports its child's death by signal N as exit status 128 + N, as bubblewrap and
        /// shells do.
        var reportsSignalsAsStatus = false

        /// The exit status, if the process exited (and, see ``reportsSignalsAsStatus``, was not killed).
        var exitStatus: Int32? { ending.status }
        /// The terminating signal, if a signal ended the process.
        var signal: Int32? { ending.signal }

        /// The exit status or the signal: one of the two is set.
        private var ending: (status: Int32?, signal: Int32?) {
            guard status & 0x7F == 0 else { return (nil, status & 0x7F) }
            let code = (status >> 8) & 0xFF
            return reportsSignalsAsStatus && code > 128 && code <= 128 + 64 ? (nil, code - 128) : (code, nil)
        }
    }

    /// How long output is still drained after the process was reaped: a descendant that left the
    /// process group may hold the pipes open.
    private static let drainGrace = Duration.seconds(1)
    private static let readSize = 64 << 10

    let pid: pid_t
    /// The write end of its stdin (non-blocking), or -1 when stdin is /dev/null.
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32
    private let stderrCapacity: Int
    private(set) var stderrBytes: [UInt8] = []
    private var stderrTruncated = false

    /// Forks and executes `program` (an absolute path) in a new process group with the given limits, as `user`
    /// if given. Throws `app_not_found` when there is no such program, `app_start_failed` for any other failure.
    init(
        program: String, arguments: [String], environment: [String], directory: String,
        resources: AppResources, user: SystemUser?, stderrCapacity: Int, stdinPipe: Bool = false
    ) throws(ServiceError) {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = csubprocess_child()
        let started = program.withCString { path in
            directory.withCString { directory in
                argv.withUnsafeBufferPointer { argv in
                    envp.withUnsafeBufferPointer { envp in
                        var spec = csubprocess_spec(
                            path: path, argv: argv.baseAddress, envp: envp.baseAddress, directory: directory,
                            memory_limit_bytes: Int64(resources.memoryLimitBytes),
                            cpu_time_limit_seconds: Int64(resources.cpuTimeLimitSeconds),
                            file_size_limit_bytes: Int64(resources.fileSizeLimitBytes),
                            uid: user.map { Int64($0.uid) } ?? -1, gid: user.map { Int64($0.gid) } ?? -1,
                            stdin_pipe: stdinPipe ? 1 : 0)
                        return csubprocess_spawn(&spec, &child)
                    }
                }
            }
        }
        guard started == 0 else {
            let step = String(cString: child.step)
            if step == "exec", child.error == ENOENT || child.error == ENOTDIR {
                throw ServiceError(.unavailable, "app_not_found", "the ingest app \(program) does not exist")
            }
            throw ServiceError(
                .unavailable, "app_start_failed",
                "the ingest app \(program) could not be started: \(step) failed: \(String(cString: strerror(child.error)))")
        }
        pid = child.pid
        stdin = child.stdin_fd
        if stdin >= 0 { _ = fcntl(stdin, F_SETFL, fcntl(stdin, F_GETFL) | O_NONBLOCK) }
        stdout = child.stdout_fd
        stderr = child.stderr_fd
        self.stderrCapacity = stderrCapacity
    }

    /// Hands stdout to `onStdout` as it arrives and keeps the first bytes of stderr until the process
    /// exits or `deadline` passes, then SIGKILLs its whole process group and reaps it.
    ///
    /// If `onStdout` throws, the group is killed and reaped and the error rethrown. Output still
    /// buffered after the process exited is delivered; after a timeout it is discarded.
    /// Waits for the process until it exits or `deadline` passes; `shouldStop` (checked at least every 100 ms)
    /// ends the run at once, killing the group and throwing `CancellationError` (a service shutting down).
    mutating func supervise(
        deadline: ContinuousClock.Instant, shouldStop: () -> Bool = { false }, onStdout: ([UInt8]) throws -> Void
    ) throws -> Termination {
        defer { closePipes() }
        var timedOut = false
        do {
            while csubprocess_has_exited(pid) == 0 {
                if shouldStop() { throw CancellationError() }
                let now = ContinuousClock.now
                if now >= deadline {
                    timedOut = true
                    break
                }
                let slice = Duration.milliseconds(stdout >= 0 || stderr >= 0 ? 100 : 10)
                try pump(for: min(deadline - now, slice), onStdout: onStdout)
            }
        } catch {
            _ = finish()
            throw error
        }
        let status = finish()
        let graceEnd = ContinuousClock.now + Self.drainGrace
        while stdout >= 0 || stderr >= 0, ContinuousClock.now < graceEnd {
            try pump(for: min(graceEnd - ContinuousClock.now, .milliseconds(100)), onStdout: timedOut ? { _ in } : onStdout)
        }
        return Termination(status: status, timedOut: timedOut, stderr: stderrBytes, stderrTruncated: stderrTruncated)
    }

    /// Kills the process group (and the process, should it have left the group), reaps the process
    /// and returns its wait status. Until reaped, its pid cannot be reused as another group's id.
    ///
    /// Under bubblewrap the app runs in a PID namespace whose init is the process's child, in a session of its
    /// own: that init is killed first, which ends every process of the sandbox (`--die-with-parent` alone let
    /// sandboxes outlive a killed bwrap).
    func finish() -> Int32 {
        for child in Self.children(of: pid) { kill(child, SIGKILL) }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        return status
    }

    /// The children of `pid` (while it is alive or a zombie not yet reaped), from `/proc`.
    private static func children(of pid: pid_t) -> [pid_t] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return [] }
        return text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Waits up to `duration` for output and reads what is there; a pipe at end of file is closed.
    mutating func pump(for duration: Duration, onStdout: ([UInt8]) throws -> Void) throws {
        var fds = [stdout, stderr].filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let milliseconds = Int32(max(1, (duration / .milliseconds(1)).rounded(.up)))
        guard poll(&fds, nfds_t(fds.count), milliseconds) > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: Self.readSize)
        for entry in fds where entry.revents != 0 {
            let count = read(entry.fd, &buffer, buffer.count)
            if count < 0, errno == EINTR || errno == EAGAIN { continue }
            guard count > 0 else {
                close(entry.fd)
                if entry.fd == stdout { stdout = -1 } else { stderr = -1 }
                continue
            }
            if entry.fd == stdout {
                try onStdout(Array(buffer[..<count]))
            } else {
                keepStderr(buffer[..<count])
            }
        }
    }

    mutating func closePipes() {
        for fd in [stdin, stdout, stderr] where fd >= 0 { close(fd) }
        stdin = -1
        stdout = -1
        stderr = -1
    }

    /// Keeps up to the capacity of standard error's bytes.
    mutating func keepStderr(_ bytes: ArraySlice<UInt8>) {
        let kept = min(bytes.count, stderrCapacity - stderrBytes.count)
        stderrBytes += bytes.prefix(kept)
        stderrTruncated = stderrTruncated || kept < bytes.count
    }
}
