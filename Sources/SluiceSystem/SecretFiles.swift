import Foundation

/// A directory of secrets (`DATA_DIR/credentials`): mode `0700`, each file `0600`, written atomically and
/// durably, so a secret is never readable by another user nor found half-written after a crash.
/// Blocking: call from a dedicated thread.
public struct SecretFiles: Sendable {
    /// The directory's name under a data directory.
    public static let directoryName = "credentials"

    public let directory: String

    public init(directory: String) {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }

    /// `<dataDirectory>/credentials`.
    public init(dataDirectory: String) {
        let base = dataDirectory.count > 1 && dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory
        self.init(directory: base + "/" + Self.directoryName)
    }

    /// The path of the secret `name`.
    public func path(_ name: String) -> String { directory + "/" + name }

    /// The secret `name`, without a trailing newline; `nil` if there is none.
    public func read(_ name: String) -> String? {
        guard let text = try? String(contentsOfFile: path(name), encoding: .utf8) else { return nil }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// Writes `contents` (and a newline) as the secret `name`: a `0600` temporary file, fsync'd and renamed.
    public func write(_ name: String, _ contents: String) throws(SystemError) {
        try prepareDirectory()
        let target = path(name)
        let temporary = target + ".tmp-\(getpid())"
        // A fresh file of its own: never one left (or planted) under that name.
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure("create", temporary) }
        let bytes = Array((contents + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = written == bytes.count && fchmod(descriptor, 0o600) == 0 && fsync(descriptor) == 0
        close(descriptor)
        guard synced, rename(temporary, target) == 0 else {
            let error = failure("write", target)
            unlink(temporary)
            throw error
        }
    }

    /// Removes the secret `name`; nothing happens if there is none.
    public func remove(_ name: String) throws(SystemError) {
        guard unlink(path(name)) == 0 || errno == ENOENT else { throw failure("remove", path(name)) }
    }

    /// Creates the directory (`0700`) if missing, and closes it to everyone else if it was open.
    private func prepareDirectory() throws(SystemError) {
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, (try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)) == nil {
            throw failure("create", parent)
        }
        if mkdir(directory, 0o700) != 0, errno != EEXIST { throw failure("create", directory) }
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw failure("use", directory) }
        if info.st_mode & 0o077 != 0, chmod(directory, 0o700) != 0 { throw failure("chmod", directory) }
    }

    private func failure(_ step: String, _ path: String) -> SystemError {
        SystemError(code: SystemErrorCode.ioError, message: "cannot \(step) \(path): \(String(cString: strerror(errno)))")
    }
}
