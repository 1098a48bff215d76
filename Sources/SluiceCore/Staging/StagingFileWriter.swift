import Crypto
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file staged on disk by ``StagingFileWriter/finish()``.
public struct StagedFile: Sendable, Hashable {
    /// Where the file is (the temporary path until committed).
    public let path: String
    /// Its size in bytes.
    public let size: Int64
    /// Its SHA-256, as lowercase hex.
    public let sha256: String
}

/// Streams one upload into a new temporary file, counting and hashing it, then makes it durable
/// and moves it into place.
///
/// All system calls run on the writer's own serial `DispatchQueue`. Any error removes the partial
/// file; ``discard()`` is always safe, also after an error or a second time.
public final class StagingFileWriter: Sendable {
    private enum Phase {
        case open(Int32)
        case finished
        case committed
        case discarded
    }

    private struct State {
        var phase: Phase
        var path: String
        var hasher = SHA256()
    }

    /// The size limit; a write that would exceed it fails with `file_too_large`.
    public let maximumBytes: Int64
    private let queue: DispatchQueue
    private let state: Mutex<State>
    private let count = Atomic<Int64>(0)

    /// Bytes written so far.
    public var bytesWritten: Int64 { count.load(ordering: .relaxed) }

    /// Creates `temporaryPath` (`O_CREAT | O_EXCL`, mode 0644); its directory must exist.
    public init(temporaryPath: String, maximumBytes: Int64) async throws(StagingError) {
        let queue = DispatchQueue(label: "sluice.staging-writer")
        let descriptor = try await BlockingIO.run(on: queue) { () throws(StagingError) -> Int32 in
            let descriptor = open(temporaryPath, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw StagingError.io("open", temporaryPath, errno: errno) }
            return descriptor
        }
        self.maximumBytes = maximumBytes
        self.queue = queue
        self.state = Mutex(State(phase: .open(descriptor), path: temporaryPath))
    }

    deinit {
        // An abandoned writer must not leak its descriptor; the startup sweep removes the file.
        if case .open(let descriptor) = state.withLock({ $0.phase }) { close(descriptor) }
    }

    /// Appends `chunk`. Throws `file_too_large` (removing the file) if the total would exceed
    /// ``maximumBytes``, `io_error` (removing the file) if writing fails.
    public func write(_ chunk: [UInt8]) async throws(StagingError) {
        try await BlockingIO.run(on: queue) { () throws(StagingError) in
            try self.state.withLock { (state) throws(StagingError) in
                let descriptor = try Self.openDescriptor(state)
                let total = self.bytesWritten + Int64(chunk.count)
                guard total <= self.maximumBytes else {
                    Self.abandon(&state, descriptor: descriptor)
                    throw StagingError(code: StagingError.Code.fileTooLarge,
                                       message: "the file exceeds the limit of \(self.maximumBytes) bytes")
                }
                let failure = chunk.withUnsafeBytes { Self.writeAll(descriptor, $0) }
                if failure != 0 {
                    Self.abandon(&state, descriptor: descriptor)
                    throw StagingError.io("write", state.path, errno: failure)
                }
                state.hasher.update(data: chunk)
                self.count.store(total, ordering: .relaxed)
            }
        }
    }

    /// Flushes the file to disk (`fsync`) and closes it.
    public func finish() async throws(StagingError) -> StagedFile {
        try await BlockingIO.run(on: queue) { () throws(StagingError) -> StagedFile in
            try self.state.withLock { (state) throws(StagingError) -> StagedFile in
                let descriptor = try Self.openDescriptor(state)
                guard fsync(descriptor) == 0 else {
                    let code = errno
                    Self.abandon(&state, descriptor: descriptor)
                    throw StagingError.io("fsync", state.path, errno: code)
                }
                close(descriptor)
                state.phase = .finished
                let digest = state.hasher.finalize()
                return StagedFile(path: state.path, size: self.bytesWritten, sha256: hex(digest))
            }
        }
    }

    /// Renames the finished file to `finalPath` and fsyncs the directory so the rename survives a crash.
    public func commit(to finalPath: String) async throws(StagingError) {
        try await BlockingIO.run(on: queue) { () throws(StagingError) in
            try self.state.withLock { (state) throws(StagingError) in
                guard case .finished = state.phase else {
                    throw StagingError(code: StagingError.Code.invalidState, message: "commit requires a finished file")
                }
                try Self.durableRename(from: state.path, to: finalPath)
                state.path = finalPath
                state.phase = .committed
            }
        }
    }

    /// Renames `source` to `destination` and fsyncs the directory, so the rename survives a crash.
    /// Blocking: call it from a dedicated thread (e.g. inside a store transaction, which runs on one).
    public static func durableRename(from source: String, to destination: String) throws(StagingError) {
        guard rename(source, destination) == 0 else { throw StagingError.io("rename", source, errno: errno) }
        try syncDirectory(of: destination)
    }

    /// Closes the file if open and removes it, whether temporary or committed. Idempotent.
    public func discard() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.state.withLock { state in
                    switch state.phase {
                    case .open(let descriptor):
                        Self.abandon(&state, descriptor: descriptor)
                    case .finished, .committed:
                        unlink(state.path)
                        state.phase = .discarded
                    case .discarded:
                        break
                    }
                }
                continuation.resume()
            }
        }
    }

    private static func openDescriptor(_ state: State) throws(StagingError) -> Int32 {
        guard case .open(let descriptor) = state.phase else {
            throw StagingError(code: StagingError.Code.invalidState, message: "\(state.path) is no longer open for writing")
        }
        return descriptor
    }

    /// Closes and removes the partial file.
    private static func abandon(_ state: inout State, descriptor: Int32) {
        close(descriptor)
        unlink(state.path)
        state.phase = .discarded
    }

    /// Writes every byte, retrying on `EINTR` and short writes; returns 0 or the `errno`.
    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            #else
            let written = Darwin.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            #endif
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return 0
    }

    private static func syncDirectory(of path: String) throws(StagingError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let descriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StagingError.io("open", directory, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StagingError.io("fsync", directory, errno: errno) }
    }
}
