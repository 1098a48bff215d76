import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A `sluice` executable started as a real process, for end-to-end tests.
public final class SluiceProcess: @unchecked Sendable {
    // `process` is only touched by the test that owns this value.
    public let process: Process
    public let logFile: String
    public var client: TestHTTPClient { TestHTTPClient(port: port) }
    private let boundPort = Mutex<UInt16?>(nil)

    /// The port the process bound (it listens on port 0, so no two processes of a parallel run can pick the
    /// same one and a test talk to another test's server): read from its log once it is serving, 0 before.
    public var port: UInt16 {
        if let port = boundPort.withLock({ $0 }) { return port }
        guard let line = log.split(separator: "\n").first(where: { $0.contains("HTTP server listening") }),
              let range = line.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = UInt16(line[range].split(separator: ":").last ?? "") else { return 0 }
        boundPort.withLock { $0 = port }
        return port
    }

    /// The operations listener's bound port, read from the log like ``port``; 0 before it is serving.
    public var operationsPort: UInt16 {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("sluice is serving") }),
              let range = line.range(of: #"operations_address=127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = UInt16(line[range].split(separator: ":").last ?? "") else { return 0 }
        return port
    }

    /// The `sluice` binary built next to the test bundle (`swift build --build-tests` builds both).
    public static var executable: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("sluice").path
    }

    /// The checkout: the first directory above the built binaries that holds Package.swift.
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.path
    }

    /// Starts `sluice serve <arguments>` listening on port 0, its operations listener too. Tests stall
    /// uploads on purpose for as long as their checks take, and a loaded machine may take seconds between a
    /// connect and its first byte, so the minimum body rate is off and the head timeout long unless
    /// `arguments` set them (a later option wins).
    public init(serve arguments: [String], environment: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestClientError("\(Self.executable) is missing: build with `swift build --build-tests` before `swift test`")
        }
        logFile = NSTemporaryDirectory() + "sluice-\(UUID().uuidString.prefix(12)).log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--operations-listen", "127.0.0.1:0", "--min-body-rate", "0",
                             "--head-timeout", "300"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    /// Waits until `GET /readyz` answers 200 (on the operations listener, for a process whose API speaks HTTPS),
    /// failing with the process log otherwise.
    public func waitUntilReady(timeout: Duration = .seconds(90), onOperationsListener: Bool = false) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TestClientError("sluice exited early:\n\(log)") }
            let port = onOperationsListener ? operationsPort : self.port
            if port != 0, let response = try? await TestHTTPClient(port: port).get("/readyz"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestClientError("sluice was not ready within \(timeout):\n\(log)")
    }

    /// Sends SIGTERM and waits for the exit status.
    @discardableResult
    public func terminate(timeout: Duration = .seconds(60)) async throws -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw TestClientError("sluice did not exit after SIGTERM:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: logFile)
    }
}
