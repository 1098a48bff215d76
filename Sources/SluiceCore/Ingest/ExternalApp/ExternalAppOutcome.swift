import Foundation

/// How a run of a tenant's external ingest app ended.
public enum ExternalAppOutcome: String, Sendable, Equatable {
    /// Exit status 0.
    case ok
    /// A non-zero exit status.
    case failed
    /// The wall-clock limit passed; the process group was killed.
    case timeout
    /// A signal ended the app (SIGKILL, SIGSEGV, SIGXCPU from the CPU limit, ...).
    case killed
}

/// What one run of an external ingest app did.
public struct ExternalAppResult: Sendable {
    public let outcome: ExternalAppOutcome
    /// The exit status, if the app exited by itself.
    public let exitStatus: Int32?
    /// The signal that ended the app, if one did (SIGKILL after a timeout).
    public let signal: Int32?
    /// The first ``ExternalAppRunner/stderrCapacity`` bytes of standard error, decoded as UTF-8.
    public let stderr: String
    /// Whether standard error was longer than what ``stderr`` keeps.
    public let stderrTruncated: Bool
    public let duration: Duration
    /// Output mode `out_dir` and outcome `ok`: the regular files the app left in `OUTPUT_DIR`
    /// (names not starting with a dot), as absolute paths sorted by name. Otherwise empty.
    public let outputFiles: [String]
    /// The failure to record as the file's error; `nil` when the outcome is `ok`.
    public let error: ServiceError?

    init(
        termination: ExternalAppProcess.Termination, duration: Duration, outputFiles: [String],
        resources: AppResources
    ) {
        let stderr = String(decoding: termination.stderr, as: UTF8.self)
        let detail = Self.firstLine(of: stderr).map { ": \($0)" } ?? ""
        if termination.timedOut {
            outcome = .timeout
            error = ServiceError(
                .invalid, "app_timeout",
                "the ingest app ran longer than \(resources.timeoutSeconds) s and was killed\(detail)")
        } else if let signal = termination.signal {
            outcome = .killed
            let hint = switch signal {
            case SIGXCPU: " (CPU time limit of \(resources.cpuTimeLimitSeconds) s)"
            case SIGXFSZ: " (file size limit of \(resources.fileSizeLimitBytes) bytes)"
            case SIGKILL: " (memory or CPU limit?)"
            default: ""
            }
            error = ServiceError(.invalid, "app_killed", "the ingest app was killed by signal \(signal)\(hint)\(detail)")
        } else if let status = termination.exitStatus, status != 0 {
            outcome = .failed
            error = ServiceError(.invalid, "app_failed", "the ingest app exited with status \(status)\(detail)")
        } else {
            outcome = .ok
            error = nil
        }
        exitStatus = termination.exitStatus
        signal = termination.signal
        self.stderr = stderr
        stderrTruncated = termination.stderrTruncated
        self.duration = duration
        self.outputFiles = outcome == .ok ? outputFiles : []
    }

    /// The first non-blank line of `text`, trimmed and shortened to 200 characters.
    private static func firstLine(of text: String) -> String? {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty }
            .map { $0.count > 200 ? $0.prefix(200) + "…" : $0 }
    }
}
