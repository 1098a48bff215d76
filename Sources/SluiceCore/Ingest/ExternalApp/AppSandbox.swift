import Foundation
import SluiceSystem

/// How tenants' external apps are confined: under bubblewrap (`bwrap`, the sandbox Flatpak uses), each run
/// in namespaces of its own (user, PID, mount, network, IPC, UTS, cgroup) as an unprivileged user, seeing the
/// system's read-only directories and its own tenant's staging directory and nothing else of Sluice's. See
/// the README's "External ingest apps: the contract" for exactly what an app sees.
public struct AppSandbox: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Under bubblewrap at `executable`; as `user` when Sluice runs as root (else as Sluice's own user,
        /// unprivileged inside its user namespace).
        case bubblewrap(executable: String, user: SystemUser?)
        /// As Sluice's own user, with Sluice's view of the filesystem and network (`--unsandboxed-apps`).
        case unsandboxed
        /// External apps are refused, for this reason.
        case unavailable(String)
    }

    public let mode: Mode

    /// The system user apps run as when Sluice runs as root.
    public static let systemUser = "sluice-sandbox"
    /// The user and group an app has inside its sandbox (`nobody`).
    static let sandboxedID = "65534"
    /// util-linux's `prlimit`: sets the process limit inside the sandbox, where only the sandbox's processes count.
    static let prlimit = "/usr/bin/prlimit"
    /// The largest `/tmp` an app gets (a private tmpfs; less when its memory limit is lower).
    static let temporarySpaceBytes = 256 << 20

    public init(mode: Mode) {
        self.mode = mode
    }

    /// Apps run without a sandbox.
    public static let unsandboxed = AppSandbox(mode: .unsandboxed)

    /// Finds bubblewrap and checks that it can build a sandbox here (user namespaces may be disabled); when
    /// Sluice runs as root, creates the sandbox's system user and lets it reach the staging directory (an ACL
    /// entry on a private directory above it). Never throws: a sandbox that cannot work is ``Mode/unavailable(_:)``
    /// with the reason. Blocking.
    public static func prepare(stagingRoot: String) -> AppSandbox {
        guard let executable = Subprocess.which("bwrap") else {
            return AppSandbox(mode: .unavailable("""
                bubblewrap (bwrap) is not installed, and external ingest apps run only in its sandbox: install the \
                package bubblewrap (or start Sluice with --unsandboxed-apps to run them without one)
                """))
        }
        guard FileManager.default.isExecutableFile(atPath: prlimit) else {
            return AppSandbox(mode: .unavailable("\(prlimit) (util-linux) is missing: it sets an app's process limit"))
        }
        do {
            let user = SystemUser.isRoot ? try SystemUser.ensure(systemUser) : nil
            if let user {
                try FileManager.default.createDirectory(atPath: stagingRoot, withIntermediateDirectories: true)
                try user.grantTraversal(toReach: stagingRoot, including: true)
            }
            let sandbox = AppSandbox(mode: .bubblewrap(executable: executable, user: user))
            // One empty run proves the kernel lets this user build the namespaces.
            let probe = sandbox.arguments(program: "/usr/bin/true", command: [], sourcePath: nil, outputDirectory: nil,
                                          network: false, resources: AppResources())
            let asUser = user.map { [SystemUser.runuser, "-u", $0.name, "--"] } ?? []
            let command = asUser + [executable] + probe.dropFirst()
            let outcome = try Subprocess.run(command[0], Array(command.dropFirst()))
            guard outcome.succeeded else {
                return AppSandbox(mode: .unavailable("bubblewrap cannot build a sandbox on this machine: \(outcome.output)"))
            }
            return sandbox
        } catch {
            return AppSandbox(mode: .unavailable("the sandbox for external ingest apps cannot be prepared: \(error)"))
        }
    }

    /// `bwrap`'s argument vector (`bwrap` first) running `program` (an absolute path) with the rest of `command`:
    /// - system directories read-only: `/usr` (and `/bin`, `/lib`… as on the host), and of `/etc` only what
    ///   programs need to start (the dynamic linker's cache, `alternatives`, time zone, TLS certificates), with
    ///   name resolution too when the app has the network;
    /// - a private `/proc` (its own PID namespace), a minimal `/dev`, a private `/tmp` (tmpfs, bounded), and
    ///   nothing writable besides (the sandbox's root is read-only);
    /// - `sourcePath` read-write at its own path, its `in/` (the staged files) and `out/` read-only, and
    ///   `outputDirectory` read-write: `in` and `out` are mount points, so the app can neither replace them nor
    ///   reach another run's output;
    /// - `program` read-only at its own path;
    /// - no network (only a loopback of its own) unless `network`;
    /// - at most `resources.processLimit` processes of its own (set inside the sandbox, where only its own count).
    func arguments(program: String, command: [String], sourcePath: String?, outputDirectory: String?, network: Bool,
                   resources: AppResources) -> [String] {
        var arguments = ["bwrap", "--unshare-all"]
        if network { arguments.append("--share-net") }
        arguments += ["--die-with-parent", "--new-session", "--uid", Self.sandboxedID, "--gid", Self.sandboxedID,
                      "--hostname", "sluice-sandbox", "--ro-bind", "/usr", "/usr"]
        for directory in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            var info = stat()
            guard lstat(directory, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory) {
                arguments += ["--symlink", target, directory]
            } else if info.st_mode & S_IFMT == S_IFDIR {
                arguments += ["--ro-bind", directory, directory]
            }
        }
        // Certificates only: /etc/ssl/private holds keys, readable by groups Sluice's own user may be in.
        var etc = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
                   "/etc/ssl/certs", "/etc/ca-certificates"]
        if network { etc += ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services"] }
        for path in etc { arguments += ["--ro-bind-try", path, path] }
        let temporarySpace = min(Self.temporarySpaceBytes, resources.memoryLimitBytes)
        arguments += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", String(temporarySpace), "--tmpfs", "/tmp"]
        if let sourcePath {
            arguments += ["--bind", sourcePath, sourcePath]
            for directory in ["in", "out"] { arguments += ["--ro-bind", "\(sourcePath)/\(directory)", "\(sourcePath)/\(directory)"] }
            if let outputDirectory { arguments += ["--bind", outputDirectory, outputDirectory] }
            arguments += ["--chdir", sourcePath]
        }
        // The program (and what it links to), unless the system directories hold it already.
        let real = URL(fileURLWithPath: program).resolvingSymlinksInPath().path
        for path in [program, real].uniqued() where !path.hasPrefix("/usr/") { arguments += ["--ro-bind", path, path] }
        // The sandbox's root is a tmpfs of its own: read-only, or it would be memory without a bound.
        arguments += ["--remount-ro", "/"]
        // The sandbox's own init process counts too.
        let processes = String(resources.processLimit + 1)
        arguments += ["--", Self.prlimit, "--nproc=\(processes):\(processes)", "--", program] + command.dropFirst()
        return arguments
    }
}

private extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
