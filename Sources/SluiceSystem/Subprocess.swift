import Foundation
import SluiceCommon

/// Runs helper programs (initdb, pg_ctl, useradd, setfacl, bwrap) to completion, capturing their combined
/// output. Blocking: call from a dedicated thread.
public enum Subprocess {
    public struct Outcome: Sendable {
        public let status: Int32
        public let output: String
        public var succeeded: Bool { status == 0 }
    }

    /// The whole environment of every helper program: nothing of Sluice's own (no `SLUICE_ADMIN_TOKEN`, no
    /// `SLUICE_DATABASE_URL`, no `PG*` variables) reaches it.
    public static let environment = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
    ]

    /// Runs `executable` with `arguments` and waits for it (`posix_spawn` + `waitpid`), with
    /// ``environment`` as its environment.
    ///
    /// Output goes to a temporary file, and the child gets no descriptors beyond 0-2: a daemon it leaves
    /// behind (`pg_ctl start`) therefore cannot keep this call from returning, which `Foundation.Process`
    /// (whose exit detection waits on an inherited socket) cannot guarantee.
    public static func run(_ executable: String, _ arguments: [String], currentDirectory: String? = nil)
        throws(SystemError) -> Outcome
    {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-subprocess-\(UUID().uuidString).log").path
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let closeFrom = glibcCloseFrom { _ = closeFrom(&actions, 3) }
        if let currentDirectory, let changeDirectory = glibcChangeDirectory {
            _ = changeDirectory(&actions, currentDirectory)
        }

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw SystemError(code: SystemErrorCode.commandFailed,
                              message: "could not run \(commandLine(executable, arguments)): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        let exitCode = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Outcome(status: exitCode, output: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc >= 2.34 `posix_spawn_file_actions_addclosefrom_np`, which Swift's Glibc module does not import.
    private static let glibcCloseFrom: CloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }

    /// glibc >= 2.29 `posix_spawn_file_actions_addchdir_np`, which Swift's Glibc module does not import.
    private static let glibcChangeDirectory: ChangeDirectory? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: ChangeDirectory.self) }

    /// Runs the command and throws `command_failed` (naming `what`, with its output) unless it exits with
    /// status 0; returns its output.
    @discardableResult
    public static func check(_ executable: String, _ arguments: [String], currentDirectory: String? = nil, what: String)
        throws(SystemError) -> String
    {
        let outcome = try run(executable, arguments, currentDirectory: currentDirectory)
        guard outcome.succeeded else {
            throw SystemError(code: SystemErrorCode.commandFailed, message: """
                \(what) failed with exit status \(outcome.status): \(commandLine(executable, arguments))\
                \(outcome.output.isEmpty ? "" : "\n" + outcome.output)
                """)
        }
        return outcome.output
    }

    /// Finds an executable on `PATH` (or in the usual system directories).
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Quotes `text` for `/bin/sh` (single quotes).
    public static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// `executable` and `arguments` as a shell would be given them.
    public static func commandLine(_ executable: String, _ arguments: [String]) -> String {
        ([executable] + arguments).map(shellQuote).joined(separator: " ")
    }
}
