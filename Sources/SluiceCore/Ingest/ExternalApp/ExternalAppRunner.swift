import Foundation
import SluiceSystem

/// Runs a tenant's external ingest app (`IngestApp.kind == .external`) on one staged file, under the
/// contract in the README ("External ingest apps: the contract"): in its ``AppSandbox``, with a cleared
/// environment, the tenant's staging directory as working directory, its own process group, rlimits, a
/// wall-clock timeout after which the whole group (and so the sandbox) is SIGKILLed.
///
/// Blocking: call ``run(inputPath:fileID:onOutput:)`` from a dedicated thread, never from the
/// cooperative pool.
public struct ExternalAppRunner: Sendable {
    /// The `PATH` of every run, and where a `command[0]` without a slash is looked up.
    public static let searchPath = "/usr/local/bin:/usr/bin:/bin"
    /// How many bytes of standard error a result keeps.
    public static let stderrCapacity = 64 << 10

    /// The tenant id (`CLIENT_ID`).
    public let tenant: String
    /// The tenant's staging directory, with `in/` and `out/` (`SOURCE_PATH`, `HOME`, working directory).
    public let sourcePath: String
    /// The argv.
    public let command: [String]
    public let output: IngestApp.Output
    public let resources: AppResources
    /// Whether the app may reach the network (the tenant's agreement).
    public let network: Bool
    public let sandbox: AppSandbox

    public init(tenant: String, sourcePath: String, app: IngestApp, resources: AppResources, network: Bool = false,
                sandbox: AppSandbox) {
        self.tenant = tenant
        self.sourcePath = sourcePath.count > 1 && sourcePath.hasSuffix("/") ? String(sourcePath.dropLast()) : sourcePath
        self.command = app.command
        self.output = app.output
        self.resources = resources
        self.network = network
        self.sandbox = sandbox
    }

    /// Runs the app on `inputPath` and waits for it.
    ///
    /// Output mode `stdout`: `onOutput` receives standard output in pieces as it arrives. Mode
    /// `out_dir`: the app gets a fresh ``outputDirectory(fileID:)`` as `OUTPUT_DIR`, its standard
    /// output is discarded, and after exit status 0 the result lists the files it wrote; remove them
    /// with ``removeOutputDirectory(fileID:)`` once read (after any other outcome the runner removes
    /// them itself).
    ///
    /// Throws `app_not_found` or `app_start_failed` when the app cannot be started, and rethrows what
    /// `onOutput` throws (after killing the app). A failing app is not an error: see the result's
    /// ``ExternalAppResult/outcome`` and ``ExternalAppResult/error``.
    /// `shouldStop` ends the run early (see ``ExternalAppProcess/supervise(deadline:shouldStop:onStdout:)``).
    public func run(inputPath: String, fileID: String, shouldStop: () -> Bool = { false },
                    onOutput: ([UInt8]) throws -> Void) throws -> ExternalAppResult {
        let start = ContinuousClock.now
        let (program, user) = try prepare()
        let outputDirectory = output == .outDir ? try createOutputDirectory(fileID: fileID, owner: user) : nil
        do {
            var process = try launch(program: program, user: user, outputDirectory: outputDirectory,
                                     environment: ["INPUT_PATH=\(inputPath)"] + (outputDirectory.map { ["OUTPUT_DIR=\($0)"] } ?? []))
            var termination = try process.supervise(
                deadline: start + .seconds(resources.timeoutSeconds), shouldStop: shouldStop, onStdout: output == .stdout ? onOutput : { _ in })
            if case .bubblewrap = sandbox.mode {
                termination.reportsSignalsAsStatus = true
                // bubblewrap says why it could not build the sandbox on stderr, and exits with status 1.
                let diagnostics = String(decoding: termination.stderr, as: UTF8.self)
                if termination.exitStatus == 1, diagnostics.hasPrefix("bwrap: ") {
                    throw ServiceError(.unavailable, "sandbox_failed", "the sandbox could not be built: "
                        + (diagnostics.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""))
                }
            }
            // bubblewrap exits after the sandbox's init, and the kernel ends an init only once every other process
            // of its PID namespace is gone: nothing of the app's can change OUTPUT_DIR from here on.
            let succeeded = termination.exitStatus == 0 && !termination.timedOut
            let files: [String] = if let outputDirectory, succeeded { try Self.regularFiles(in: outputDirectory) } else { [] }
            let result = ExternalAppResult(
                termination: termination, duration: ContinuousClock.now - start, outputFiles: files, resources: resources)
            if result.outcome != .ok, outputDirectory != nil { try removeOutputDirectory(fileID: fileID) }
            return result
        } catch {
            if outputDirectory != nil { try? removeOutputDirectory(fileID: fileID) }
            throw error
        }
    }

    /// The program to run and the user to run it as; throws when there is none, or no sandbox.
    func prepare() throws(ServiceError) -> (program: String, user: SystemUser?) {
        let program = try resolveProgram()
        let user: SystemUser?
        switch sandbox.mode {
        case .unavailable(let reason): throw ServiceError(.unavailable, "sandbox_unavailable", reason)
        case .unsandboxed: user = nil
        case .bubblewrap(_, let sandboxUser): user = sandboxUser
        }
        try prepareSourcePath(for: user)
        return (program, user)
    }

    /// Starts `program` (from ``prepare()``) in its sandbox with the contract's environment plus `environment`.
    func launch(program: String, user: SystemUser?, outputDirectory: String?, environment: [String],
                stdinPipe: Bool = false) throws(ServiceError) -> ExternalAppProcess {
        let environment = [
            "CLIENT_ID=\(tenant)", "SOURCE_PATH=\(sourcePath)", "PATH=\(Self.searchPath)", "LANG=C.UTF-8", "HOME=\(sourcePath)",
        ] + environment
        // Under bubblewrap, which enters SOURCE_PATH inside the sandbox; else the program itself.
        let (executable, arguments, directory) = if case .bubblewrap(let bubblewrap, _) = sandbox.mode {
            (bubblewrap, sandbox.arguments(program: program, command: command, sourcePath: sourcePath,
                                           outputDirectory: outputDirectory, network: network, resources: resources), "/")
        } else {
            (program, command, sourcePath)
        }
        return try ExternalAppProcess(program: executable, arguments: arguments, environment: environment, directory: directory,
                                      resources: resources, user: user, stderrCapacity: Self.stderrCapacity, stdinPipe: stdinPipe)
    }

    /// `SOURCE_PATH/out/<fileID>`: the `OUTPUT_DIR` of the run for `fileID`.
    public func outputDirectory(fileID: String) -> String {
        "\(sourcePath)/out/\(fileID)"
    }

    /// Removes the run's `OUTPUT_DIR` with everything in it; nothing happens if it does not exist.
    public func removeOutputDirectory(fileID: String) throws(ServiceError) {
        let path = try validated(fileID: fileID)
        do {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        } catch {
            throw ServiceError(.unavailable, "output_dir_failed", "cannot remove \(path): \(error.localizedDescription)")
        }
    }

    /// `command[0]` as an absolute path: as given if it is one, else found on ``searchPath``.
    private func resolveProgram() throws(ServiceError) -> String {
        guard let name = command.first, !name.isEmpty else {
            throw ServiceError(.invalid, "app_not_found", "the ingest app has no command")
        }
        if name.hasPrefix("/") {
            guard FileManager.default.fileExists(atPath: name) else {
                throw ServiceError(.unavailable, "app_not_found", "the ingest app \(name) does not exist")
            }
            guard Self.isExecutableFile(name) else {
                throw ServiceError(.unavailable, "app_start_failed", "the ingest app \(name) is not an executable file")
            }
            return name
        }
        guard !name.contains("/") else {
            throw ServiceError(
                .invalid, "app_not_found", "the ingest app \"\(name)\" must be an absolute path or a program on PATH")
        }
        let candidates = Self.searchPath.split(separator: ":").map { "\($0)/\(name)" }
        guard let found = candidates.first(where: { Self.isExecutableFile($0) }) else {
            throw ServiceError(.unavailable, "app_not_found", "the ingest app \"\(name)\" is not on PATH (\(Self.searchPath))")
        }
        return found
    }

    /// A fresh, empty `OUTPUT_DIR` (the app's user's, when it is not Sluice's): whatever an earlier run for the
    /// same file left is removed.
    private func createOutputDirectory(fileID: String, owner: SystemUser?) throws(ServiceError) -> String {
        try removeOutputDirectory(fileID: fileID)
        let path = outputDirectory(fileID: fileID)
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw ServiceError(.unavailable, "output_dir_failed", "cannot create \(path): \(error.localizedDescription)")
        }
        if let owner, chown(path, owner.uid, owner.gid) != 0 {
            throw ServiceError(.unavailable, "output_dir_failed", "cannot give \(path) to \(owner.name): \(String(cString: strerror(errno)))")
        }
        return path
    }

    /// The staging directory is the app's to write in (its `in/` and `out/` stay Sluice's, and read-only in the
    /// sandbox): owned by the app's user when that is not Sluice's, and closed to everyone else.
    private func prepareSourcePath(for user: SystemUser?) throws(ServiceError) {
        var info = stat()
        guard lstat(sourcePath, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ServiceError(.unavailable, "staged_file_missing", "the tenant's staging directory \(sourcePath) is missing")
        }
        let owner = user.map { ($0.uid, $0.gid) } ?? (info.st_uid, info.st_gid)
        guard info.st_uid != owner.0 || info.st_mode & 0o077 != 0 else { return }
        guard chown(sourcePath, owner.0, owner.1) == 0, chmod(sourcePath, 0o700) == 0 else {
            throw ServiceError(.unavailable, "output_dir_failed", "cannot prepare \(sourcePath): \(String(cString: strerror(errno)))")
        }
    }

    /// ``outputDirectory(fileID:)``, once `fileID` is known to be an upload id (`[A-Za-z0-9_-]{1,64}`).
    private func validated(fileID: String) throws(ServiceError) -> String {
        guard FileID.isValid(fileID) else { throw ServiceError(.invalid, "invalid_file_id", "invalid file id \"\(fileID.prefix(80))\"") }
        return outputDirectory(fileID: fileID)
    }

    /// The regular files (not symbolic links, no dot files) directly in `directory`, sorted by name.
    private static func regularFiles(in directory: String) throws(ServiceError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { !$0.hasPrefix(".") }
                .sorted()
                .map { "\(directory)/\($0)" }
                .filter { try FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType == .typeRegular }
        } catch {
            throw ServiceError(.unavailable, "output_dir_failed", "cannot list \(directory): \(error.localizedDescription)")
        }
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }
}
