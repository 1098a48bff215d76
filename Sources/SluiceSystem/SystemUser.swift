import Foundation

/// An unprivileged system account Sluice runs a helper as when it runs as root: `sluice-postgres` for the
/// embedded PostgreSQL server, `sluice-sandbox` for tenants' apps. Blocking: call from a dedicated thread.
public struct SystemUser: Sendable, Equatable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t

    /// Whether this process runs as root (and so runs its helpers as system users).
    public static var isRoot: Bool { geteuid() == 0 }

    /// The account `name`, created (a system user with no home and no login shell) if missing.
    public static func ensure(_ name: String) throws(SystemError) -> SystemUser {
        if let user = lookup(name) { return user }
        let useradd = Subprocess.which("useradd") ?? "/usr/sbin/useradd"
        let outcome = try Subprocess.run(useradd, ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        // A concurrent creator makes useradd fail; only the user's existence matters.
        guard let user = lookup(name) else {
            throw SystemError(code: SystemErrorCode.userUnavailable,
                              message: "could not create the system user \(name): \(outcome.output)")
        }
        return user
    }

    /// The account `name`, if it exists.
    public static func lookup(_ name: String) -> SystemUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return SystemUser(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// Whether this user may search (enter) `directory`.
    public func canEnter(_ directory: String) throws(SystemError) -> Bool {
        try Subprocess.run(Self.runuser, ["-u", name, "--", "/usr/bin/test", "-x", directory]).succeeded
    }

    /// Lets this user reach `path` through every directory above it (and `path` itself, with `including`)
    /// that it cannot enter (a checkout in root's `0700` home, say): with an ACL entry granting this one user
    /// search permission and nothing else, so the directory stays closed to everyone else. Returns the
    /// directories it was granted; fails with the directory and the fix when it cannot.
    @discardableResult
    public func grantTraversal(toReach path: String, including: Bool = false) throws(SystemError) -> [String] {
        var directories: [String] = []
        var current = URL(fileURLWithPath: path).standardizedFileURL.path
        if !including { current = (current as NSString).deletingLastPathComponent }
        while current != "/" && !current.isEmpty {
            directories.append(current)
            current = (current as NSString).deletingLastPathComponent
        }
        var granted: [String] = []
        for directory in directories.reversed() {
            var info = stat()
            guard stat(directory, &info) == 0, info.st_mode & S_IXOTH == 0, try !canEnter(directory) else { continue }
            let fix = "\(name) cannot enter \(directory) (mode \(String(info.st_mode & 0o777, radix: 8))) on the way to \(path)."
                + " Install the acl package (setfacl) so Sluice can grant \(name) just that,"
                + " or run `setfacl -m u:\(name):x \(directory)` (or `chmod o+x \(directory)`),"
                + " or choose a directory it can reach (e.g. --data-dir /var/lib/sluice)"
            guard let setfacl = Subprocess.which("setfacl") else {
                throw SystemError(code: SystemErrorCode.accessDenied, message: fix)
            }
            // An existing mask is kept (-n): recomputing it could widen what other named entries allow.
            let hasMask = (try? Subprocess.run(Subprocess.which("getfacl") ?? "/usr/bin/getfacl", ["-c", directory]))?
                .output.contains("mask::") == true
            let outcome = try Subprocess.run(setfacl, (hasMask ? ["-n"] : []) + ["-m", "u:\(name):x", directory])
            guard outcome.succeeded, try canEnter(directory) else {
                throw SystemError(code: SystemErrorCode.accessDenied, message: fix + (outcome.output.isEmpty ? "" : ": " + outcome.output))
            }
            granted.append(directory)
        }
        return granted
    }

    /// `runuser`, which runs a command as another user (root only).
    public static var runuser: String { Subprocess.which("runuser") ?? "/usr/sbin/runuser" }
}
