import Foundation

/// Runs a command-line tool the tests drive (promtool, curl, openssl) to completion. A missing tool is an error
/// (the test fails), never a skip.
public enum TestTool {
    /// Runs `executable arguments…` with `input` on stdin; returns the exit status and combined output.
    /// Blocking: call it from ``onThread(_:)`` in async tests.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [],
                           installedBy package: String) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestClientError("\(executable) is missing: apt-get install \(package) (scripts/install-deps does)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
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
