import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `sluice` executable started as a real process, for end-to-end tests.
public final class SluiceProcess: @unchecked Sendable {
    // `process` is only touched by the test that owns this value.
    public let process: Process
    public let port: UInt16
    public let logFile: String
    public var client: TestHTTPClient { TestHTTPClient(port: port) }

    /// The `sluice` binary built next to the test bundle (`swift build --build-tests` builds both).
    public static var executable: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("sluice").path
    }

    /// Starts `sluice serve --listen 127.0.0.1:<free port> <arguments>`.
    public init(serve arguments: [String], environment: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestClientError("\(Self.executable) is missing: build with `swift build --build-tests` before `swift test`")
        }
        port = try freePort()
        logFile = NSTemporaryDirectory() + "sluice-\(port)-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["serve", "--listen", "127.0.0.1:\(port)"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    /// Waits until `GET /readyz` answers 200, failing with the process log otherwise.
    public func waitUntilReady(timeout: Duration = .seconds(90)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TestClientError("sluice exited early:\n\(log)") }
            if let response = try? await client.get("/readyz"), response.status == 200 { return }
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

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestClientError("no free port") }
    return UInt16(bigEndian: address.sin_port)
}
