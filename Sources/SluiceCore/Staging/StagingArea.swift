import Dispatch
import Foundation

/// The on-disk layout of staged uploads, rooted at `<dataDirectory>/staging`:
///
///     <tenant>/in/.tmp-<id>          an upload being received (hidden from listings)
///     <tenant>/in/<id>-<name>        a complete upload awaiting ingestion
///     <tenant>/out/                  files produced for the tenant
///
/// Tenant ids must be slugs (`^[a-z][a-z0-9_-]{0,62}$`) and upload ids `[A-Za-z0-9_-]{1,64}`, so
/// no path can leave the staging root. Methods that touch the disk run on a private serial queue,
/// except ``sweepTemporaryFiles()``, meant for startup.
public struct StagingArea: Sendable {
    /// The prefix of files still being received.
    public static let temporaryPrefix = ".tmp-"

    /// `<dataDirectory>/staging`.
    public let root: String
    private let queue = DispatchQueue(label: "sluice.staging-area")

    public init(dataDirectory: String) {
        self.root = (dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory) + "/staging"
    }

    /// Whether `tenant` is a valid tenant slug.
    public static func isValidTenant(_ tenant: String) -> Bool {
        let bytes = Array(tenant.utf8)
        guard (1...63).contains(bytes.count), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// `<root>/<tenant>`; throws `invalid_tenant` for anything but a slug.
    public func tenantDirectory(_ tenant: String) throws(StagingError) -> String {
        guard Self.isValidTenant(tenant) else {
            throw StagingError(code: StagingError.Code.invalidTenant, message: "invalid tenant id \"\(tenant.prefix(80))\"")
        }
        return "\(root)/\(tenant)"
    }

    /// `<root>/<tenant>/in`, created (mode 0755) if missing.
    public func inDirectory(_ tenant: String) async throws(StagingError) -> String {
        let path = try tenantDirectory(tenant) + "/in"
        try await BlockingIO.run(on: queue) { () throws(StagingError) in try Self.createDirectory(path) }
        return path
    }

    /// `<root>/<tenant>/out`, created (mode 0755) if missing.
    public func outDirectory(_ tenant: String) async throws(StagingError) -> String {
        let path = try tenantDirectory(tenant) + "/out"
        try await BlockingIO.run(on: queue) { () throws(StagingError) in try Self.createDirectory(path) }
        return path
    }

    /// `<root>/<tenant>/in/.tmp-<id>`.
    public func temporaryPath(tenant: String, id: String) throws(StagingError) -> String {
        try "\(tenantDirectory(tenant))/in/\(Self.temporaryPrefix)\(validated(id: id))"
    }

    /// `<root>/<tenant>/in/<id>-<sanitizedName>`; `sanitizedName` must come from ``FileNameSanitizer``.
    public func finalPath(tenant: String, id: String, sanitizedName: String) throws(StagingError) -> String {
        guard FileNameSanitizer.sanitize(sanitizedName) == sanitizedName else {
            throw StagingError(code: StagingError.Code.invalidName, message: "file name \"\(sanitizedName.prefix(120))\" is not sanitized")
        }
        return try "\(tenantDirectory(tenant))/in/\(validated(id: id))-\(sanitizedName)"
    }

    /// Removes every `.tmp-*` file from every tenant's `in/` and returns their paths. Blocking:
    /// run it at startup, before accepting uploads, to clean up after a crash.
    public func sweepTemporaryFiles() throws(StagingError) -> [String] {
        var removed: [String] = []
        for tenant in try Self.entries(of: root) where Self.isValidTenant(tenant) {
            let directory = "\(root)/\(tenant)/in"
            for name in try Self.entries(of: directory) where name.hasPrefix(Self.temporaryPrefix) {
                let path = "\(directory)/\(name)"
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

    /// The names of the complete files in the tenant's `in/` (hidden files excluded), sorted.
    public func listFiles(tenant: String) async throws(StagingError) -> [String] {
        let path = try tenantDirectory(tenant) + "/in"
        return try await BlockingIO.run(on: queue) { () throws(StagingError) in
            try Self.entries(of: path).filter { !$0.hasPrefix(".") }.sorted()
        }
    }

    private func validated(id: String) throws(StagingError) -> String {
        let valid = (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard valid else {
            throw StagingError(code: StagingError.Code.invalidName, message: "invalid upload id \"\(id.prefix(80))\"")
        }
        return id
    }

    private static func createDirectory(_ path: String) throws(StagingError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw StagingError(code: StagingError.Code.ioError, message: "creating \(path) failed: \(error)")
        }
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
