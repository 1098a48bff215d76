import Dispatch
import Foundation

/// The on-disk layout of staged uploads, rooted at the staging directory (`<dataDirectory>/staging` by
/// default; one directory, a shared volume, for every instance on one database):
///
///     <tenant>/in/.tmp-<id>.<instance>   an upload being received by that instance (hidden from listings)
///     <tenant>/in/<id>-<name>            a complete upload awaiting ingestion
///     <tenant>/out/                      files produced for the tenant
///
/// Tenant ids must be slugs (`^[a-z][a-z0-9_-]{0,62}$`) and upload ids `[A-Za-z0-9_-]{1,64}`, so
/// no path can leave the staging root. Methods that touch the disk run on a private serial queue,
/// except ``sweepTemporaryFiles(keeping:quiet:legacyGrace:)``, for recovery.
public struct StagingArea: Sendable {
    /// The prefix of files still being received.
    public static let temporaryPrefix = ".tmp-"

    /// The staging directory.
    public let root: String
    /// The instance whose uploads this area writes (named in their temporary files).
    public let instance: String
    private let queue = DispatchQueue(label: "sluice.staging-area")

    /// The default staging directory: `<dataDirectory>/staging`.
    public static func defaultRoot(dataDirectory: String) -> String {
        (dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory) + "/staging"
    }

    /// `instance` is kept to `[A-Za-z0-9._-]` in file names (see ``fileNameSafe(_:)``).
    public init(root: String, instance: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.instance = Self.fileNameSafe(instance)
    }

    /// An instance id as its temporary files name it: anything but `[A-Za-z0-9._-]` becomes `_`.
    public static func fileNameSafe(_ instance: String) -> String {
        String(instance.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
    }


    /// `<root>/<tenant>`; throws `invalid_tenant` for anything but a slug.
    public func tenantDirectory(_ tenant: String) throws(StagingError) -> String {
        guard TenantDefinition.isValidID(tenant) else {
            throw StagingError(code: StagingError.Code.invalidTenant, message: "invalid tenant id \"\(tenant.prefix(80))\"")
        }
        return "\(root)/\(tenant)"
    }

    /// `<root>/<tenant>/in`, created if missing (see ``closeToOthers()`` for the modes).
    public func inDirectory(_ tenant: String) async throws(StagingError) -> String {
        try await tenantSubdirectory(tenant, "in")
    }

    /// `<root>/<tenant>/out`, created if missing (see ``closeToOthers()`` for the modes).
    public func outDirectory(_ tenant: String) async throws(StagingError) -> String {
        try await tenantSubdirectory(tenant, "out")
    }

    /// Closes the staging directory to other local users: the root and each tenant's directory are created
    /// `0700`, and those of earlier versions (`0755`, their files `0644`) lose other users' permissions; `in/` and
    /// `out/` inside stay `0755`, for a tenant's sandboxed app, which runs as another user when Sluice runs as root.
    public func closeToOthers() async throws(StagingError) {
        let root = self.root
        try await BlockingIO.run(on: queue) { () throws(StagingError) in
            try Self.createPrivateDirectory(root)
            for tenant in try Self.entries(of: root) where TenantDefinition.isValidID(tenant) {
                try Self.makePrivate("\(root)/\(tenant)")
            }
        }
    }

    /// `<root>/<tenant>/in/.tmp-<id>.<instance>`.
    public func temporaryPath(tenant: String, id: String) throws(StagingError) -> String {
        try "\(tenantDirectory(tenant))/in/\(Self.temporaryPrefix)\(validated(id: id)).\(instance)"
    }

    /// `<root>/<tenant>/in/<id>-<sanitizedName>`; `sanitizedName` must come from ``FileNameSanitizer``.
    public func finalPath(tenant: String, id: String, sanitizedName: String) throws(StagingError) -> String {
        guard FileNameSanitizer.sanitize(sanitizedName) == sanitizedName else {
            throw StagingError(code: StagingError.Code.invalidName, message: "file name \"\(sanitizedName.prefix(120))\" is not sanitized")
        }
        return try "\(tenantDirectory(tenant))/in/\(validated(id: id))-\(sanitizedName)"
    }

    /// Removes the temporary files of uploads that can no longer finish, and returns their paths: those of
    /// instances not in `liveInstances` (file-name-safe ids; every instance on the database writes here) not
    /// written to for `quiet` seconds, and those named in the older way without an instance once
    /// `legacyGrace` has passed since they were written. Blocking: keep it off the cooperative pool.
    public func sweepTemporaryFiles(keeping liveInstances: Set<String>, quiet: TimeInterval,
                                    legacyGrace: TimeInterval) throws(StagingError) -> [String] {
        var removed: [String] = []
        let now = Date().timeIntervalSince1970
        for tenant in try Self.entries(of: root) where TenantDefinition.isValidID(tenant) {
            let directory = "\(root)/\(tenant)/in"
            for name in try Self.entries(of: directory) where name.hasPrefix(Self.temporaryPrefix) {
                let path = "\(directory)/\(name)"
                let rest = name.dropFirst(Self.temporaryPrefix.count)
                let dot = rest.firstIndex(of: ".")
                if let dot, liveInstances.contains(String(rest[rest.index(after: dot)...])) { continue }
                var info = stat()
                guard stat(path, &info) == 0, now - Double(info.st_mtim.tv_sec) > (dot == nil ? legacyGrace : quiet) else { continue }
                guard unlink(path) == 0 || errno == ENOENT else { throw StagingError.io("unlink", path, errno: errno) }
                removed.append(path)
            }
        }
        return removed.sorted()
    }

    /// Deletes the tenant's whole staging directory; succeeds if it does not exist.
    public func removeTenant(_ tenant: String) async throws(StagingError) {
        let path = try tenantDirectory(tenant)
        try await BlockingIO.run(on: queue) { () throws(StagingError) in
            guard FileManager.default.fileExists(atPath: path) else { return }
            do {
                try FileManager.default.removeItem(atPath: path)
            } catch {
                throw StagingError(code: StagingError.Code.ioError, message: "removing \(path) failed: \(error)")
            }
        }
    }

    /// Removes staged files (`paths` from ``finalPath(tenant:id:sanitizedName:)``); missing ones are skipped.
    public func removeFiles(_ paths: [String]) async throws(StagingError) {
        try await BlockingIO.run(on: queue) { () throws(StagingError) in
            for path in paths where unlink(path) != 0 && errno != ENOENT {
                throw StagingError(code: StagingError.Code.ioError, message: "removing \(path) failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func validated(id: String) throws(StagingError) -> String {
        guard FileID.isValid(id) else {
            throw StagingError(code: StagingError.Code.invalidName, message: "invalid upload id \"\(id.prefix(80))\"")
        }
        return id
    }

    private func tenantSubdirectory(_ tenant: String, _ name: String) async throws(StagingError) -> String {
        let tenantPath = try tenantDirectory(tenant)
        let (root, path) = (self.root, tenantPath + "/" + name)
        try await BlockingIO.run(on: queue) { () throws(StagingError) in
            try Self.createPrivateDirectory(root)
            try Self.createPrivateDirectory(tenantPath)
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw StagingError.io("mkdir", path, errno: errno) }
        }
        return path
    }

    /// Creates `path` `0700` (and its parents) if missing, and closes it to others (``makePrivate(_:)``).
    private static func createPrivateDirectory(_ path: String) throws(StagingError) {
        if mkdir(path, 0o700) != 0 {
            if errno == ENOENT {
                try createPrivateDirectory((path as NSString).deletingLastPathComponent)
                guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw StagingError.io("mkdir", path, errno: errno) }
            } else if errno != EEXIST {
                throw StagingError.io("mkdir", path, errno: errno)
            }
        }
        try makePrivate(path)
    }

    /// Takes other users' permissions off a directory. Its group bits are left alone: on a directory with an ACL
    /// (the sandbox's user granted search permission on the root) they are the ACL's mask.
    private static func makePrivate(_ path: String) throws(StagingError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw StagingError.io("stat", path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_mode & 0o007 != 0 else { return }
        guard chmod(path, info.st_mode & 0o7770) == 0 else { throw StagingError.io("chmod", path, errno: errno) }
    }

    /// The names in `directory`; empty if it does not exist.
    private static func entries(of directory: String) throws(StagingError) -> [String] {
        guard let handle = opendir(directory) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw StagingError.io("opendir", directory, errno: errno)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
