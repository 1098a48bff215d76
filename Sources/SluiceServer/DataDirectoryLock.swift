import Foundation
import SluiceCore
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a data directory (`flock` on `<dataDirectory>/sluice.lock`, holding the owner's pid),
/// held while a `serve` runs its embedded cluster there: a second `serve` on the same directory refuses to
/// start instead of sharing the cluster (and stopping it under the first on exit).
final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock or throws `data_dir_in_use`, naming the process that holds it.
    init(directory: String) throws {
        let path = (directory.hasSuffix("/") ? String(directory.dropLast()) : directory) + "/sluice.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ServiceError(.unavailable, "io_error", "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            let holder = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ServiceError(.conflict, "data_dir_in_use", """
                another sluice process (pid \(holder.isEmpty ? "?" : holder)) runs the embedded PostgreSQL in \(directory); \
                use that one, or start this one with its own --data-dir, or with --database-url (and the same --staging-dir) \
                to share that store
                """)
        }
        _ = ftruncate(descriptor, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    /// Gives the lock up (closing the descriptor releases it).
    func release() { close(descriptor) }
}
