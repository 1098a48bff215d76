import Foundation

/// A program a test runs beside it (an SMTP server, Prometheus, Alertmanager, `sluice demo`): started with its
/// output in a log file, killed when the test stops it or drops it. It is killed with SIGKILL: a child of the
/// test process inherits its blocked SIGTERM.
public final class TestDaemon: Sendable {
    private let process: Process
    /// Its standard output and error.
    public let logFile: String

    /// Runs `executable` with `arguments`, its environment this process's with `environment` added.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], installedBy package: String) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestClientError("\(executable) is missing: install \(package) (scripts/install-deps and scripts/install-test-tools do)")
        }
        logFile = NSTemporaryDirectory() + "daemon-\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }

    /// How it exited, once it has.
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Kills it and waits until it is gone.
    public func stop() async throws {
        kill(process.processIdentifier, SIGKILL)
        let process = process
        try await waitUntil("\(process.executableURL?.lastPathComponent ?? "the daemon") exits", timeout: .seconds(60)) { !process.isRunning }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
