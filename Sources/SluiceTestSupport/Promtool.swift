import Foundation

/// Runs Prometheus's `promtool` for the metrics and alert-rule checks. A missing promtool is an
/// error (the test fails), never a skip.
public enum Promtool {
    public static let path = "/usr/bin/promtool"

    /// Runs `promtool arguments…` with `input` on stdin; returns the exit status and combined output.
    public static func run(_ arguments: [String], input: [UInt8] = []) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestClientError("promtool is missing: apt-get install prometheus (scripts/install-deps does)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: printed, as: UTF8.self))
    }
}
