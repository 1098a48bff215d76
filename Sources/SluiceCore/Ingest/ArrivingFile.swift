import Foundation

/// An upload ingested while it arrives: the upload reports how much of its staging file is written
/// and, at the end, whether the file was published with a lease for this ingest or not; the ingest
/// reads the file behind the upload and commits only once it was published.
///
/// The upload side never blocks. The ingest side blocks (on its store connection's thread) while it
/// waits for bytes, and stops following the upload (``Detached``) when the upload is abandoned, sends
/// nothing for ``patience`` or is still arriving after ``limit``: the file then takes the queue like any
/// other once it is published.
///
/// `@unchecked Sendable`: every mutable property is guarded by `condition`'s lock.
final class ArrivingFile: @unchecked Sendable {
    /// Thrown to the ingest when it no longer follows the upload; its transaction rolls back.
    struct Detached: Error {}

    private enum Stage {
        /// The upload is still receiving.
        case receiving
        /// The upload is recording the file for this ingest; the outcome is moments away.
        case publishing
        /// The file is in the ledger, `ingesting` under this ingest's lease.
        case published(FileQueue.Claim)
        /// The upload failed, or recorded the file for the queue instead (it is a duplicate, or other files of
        /// the tenant are waiting).
        case abandoned
        /// The ingest stopped following before the upload recorded the file.
        case detached
    }

    /// The file as the ledger will hold it, apart from what only the end of the upload tells (size, hash).
    let file: FileRecord
    /// Where the upload writes, and where the published file is renamed to (the ingest keeps the descriptor
    /// it opened; one that opens only after the rename reads the final path).
    let temporaryPath: String
    let finalPath: String
    /// The lease owner recorded with the published file.
    let owner: String
    let lease: Duration
    let startedAt = Date()
    /// The longest wait for more bytes, and the longest time to follow the upload, before the ingest stops.
    let patience: Duration
    let limit: Duration

    /// The longest wait for a publication in progress: it is one short transaction, but one that waits on
    /// locks, and an ingest must never wait on it without bound.
    static let publicationPatience: TimeInterval = 60

    private let condition = NSCondition()
    private var written = 0
    private var stage = Stage.receiving
    private var handle: FileHandle?

    init(file: FileRecord, temporaryPath: String, finalPath: String, owner: String, lease: Duration, patience: Duration,
         limit: Duration) {
        self.file = file
        self.temporaryPath = temporaryPath
        self.finalPath = finalPath
        self.owner = owner
        self.lease = lease
        self.patience = patience
        self.limit = limit
    }

    deinit { try? handle?.close() }

    // MARK: The upload's side

    /// The first `bytes` bytes of the staging file are written.
    func advance(to bytes: Int) {
        update { if case .receiving = $0.stage { $0.written = max($0.written, bytes) } }
    }

    /// Called before the upload records the file: `true` if it is to be recorded as `ingesting` under
    /// this ingest's lease, followed by ``publish(_:)`` or ``abandon()``; `false` if the ingest stopped
    /// following and the file goes to the queue.
    func beginPublication() -> Bool {
        update { file in
            guard case .receiving = file.stage else { return false }
            file.stage = .publishing
            return true
        }
    }

    /// The file was recorded under this ingest's lease: it can finish and commit.
    func publish(_ claim: FileQueue.Claim) {
        update { if case .publishing = $0.stage { $0.stage = .published(claim) } }
    }

    /// The upload failed, or recorded the file for the queue: the ingest rolls back. Safe to call at any
    /// time; it does nothing once the file is published.
    func abandon() {
        update { file in
            switch file.stage {
            case .receiving, .publishing: file.stage = .abandoned
            case .published, .abandoned, .detached: break
            }
        }
    }

    // MARK: The ingest's side (blocking)

    /// The file's lease, once published.
    var claim: FileQueue.Claim? {
        update { file in
            guard case .published(let claim) = file.stage else { return nil }
            return claim
        }
    }

    /// The staging file opened for reading, positioned at its start (a second pass reads it again).
    func open() throws -> FileHandle {
        let handle = try update { file throws -> FileHandle in
            if let handle = file.handle { return handle }
            if let handle = FileHandle(forReadingAtPath: temporaryPath) {
                file.handle = handle
                return handle
            }
            // Only an upload that ended removes or renames its file: read it where it was published.
            file.waitWhilePublishing()
            guard case .published = file.stage, let handle = FileHandle(forReadingAtPath: finalPath) else {
                file.stop()
                throw Detached()
            }
            file.handle = handle
            return handle
        }
        try handle.seek(toOffset: 0)
        return handle
    }

    /// Blocks until bytes past `offset` are written; returns how many may be read, or 0 once the file is
    /// published and `offset` is its end. Throws ``Detached`` when the upload is abandoned or stalls.
    func readable(from offset: Int) throws -> Int {
        condition.lock()
        defer { condition.unlock() }
        let giveUp = startedAt.addingTimeInterval(limit.secondsValue)
        let deadline = min(Date().addingTimeInterval(patience.secondsValue), giveUp)
        while true {
            switch stage {
            case .receiving:
                let now = Date()
                if now < giveUp, written > offset { return written - offset }
                guard now < deadline else {
                    stage = .detached
                    throw Detached()
                }
                _ = condition.wait(until: deadline)
            case .publishing:
                // Everything is written; the ledger row is moments away.
                if written > offset { return written - offset }
                waitWhilePublishing()
                if case .publishing = stage {
                    stage = .detached
                    throw Detached()
                }
            case .published:
                return written - offset
            case .abandoned, .detached:
                throw Detached()
            }
        }
    }

    /// Stops following the upload after the ingest ended without committing. Returns the lease if the file
    /// was published for this ingest (the caller gives it back to the queue); waits while it is being published.
    func detach() -> FileQueue.Claim? {
        condition.lock()
        defer { condition.unlock() }
        waitWhilePublishing()
        if case .published(let claim) = stage { return claim }
        stop()
        return nil
    }

    /// Waits (the lock is held) while the upload records the file, at most ``publicationPatience``; a
    /// publication that took longer is left to the queue: the file's lease expires and it is taken again.
    private func waitWhilePublishing() {
        let deadline = Date().addingTimeInterval(Self.publicationPatience)
        while case .publishing = stage, condition.wait(until: deadline) {}
    }

    /// Marks a following ingest as gone (the lock is held).
    private func stop() {
        if case .receiving = stage { stage = .detached }
    }

    /// Runs `body` under the lock and wakes the waiting ingest.
    private func update<T>(_ body: (ArrivingFile) throws -> T) rethrows -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return try body(self)
    }
}
