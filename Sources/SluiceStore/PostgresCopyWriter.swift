import CLibPQ
import Glibc

/// Streams data into a running `COPY ... FROM STDIN`; handed to the body of
/// ``PostgresConnection/copyIn(_:_:)``.
///
/// Bytes are buffered and sent in 64 KB chunks. Only valid during the body that received it.
public final class PostgresCopyWriter {
    /// Bytes buffered before a chunk is sent with `PQputCopyData`.
    public static let chunkSize = 64 * 1024

    private let handle: OpaquePointer
    private var buffer: [UInt8] = []

    init(handle: OpaquePointer) {
        self.handle = handle
        buffer.reserveCapacity(Self.chunkSize + 4096)
    }

    /// Appends raw COPY data (in the format the COPY statement declared).
    public func write(_ bytes: some Collection<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.chunkSize { try flush() }
    }

    /// Appends rows encoded by ``CopyTextRows``; a full chunk of them is sent as it is, without
    /// copying it into the writer's buffer first.
    public func write(_ rows: CopyTextRows) throws {
        guard buffer.isEmpty, rows.count >= Self.chunkSize else { return try write(rows.bytes) }
        try send(rows.bytes)
    }

    /// Appends one row in COPY text format (see ``CopyTextRows``).
    public func writeRow(_ fields: [String?]) throws {
        var row = CopyTextRows(capacity: 0)
        for field in fields { row.append(field) }
        row.endRow()
        try write(row)
    }

    /// Sends everything buffered so far.
    func flush() throws {
        guard !buffer.isEmpty else { return }
        try send(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func send(_ bytes: [UInt8]) throws {
        let status = bytes.withUnsafeBytes { raw in
            PQputCopyData(handle, raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        guard status == 1 else {
            throw PostgresError(
                code: .copyFailed, message: "PQputCopyData failed: \(PostgresConnection.trimmed(PQerrorMessage(handle)))")
        }
        if serverHasSpoken() { throw ServerInterrupted() }
    }

    /// Thrown by ``flush()`` when the server sent something during the COPY, which can only be an error
    /// (e.g. a unique violation): the rest of the data would be discarded, so sending stops early.
    struct ServerInterrupted: Error {}

    /// Whether the server has sent data, without blocking. It stays silent during a successful COPY FROM STDIN.
    private func serverHasSpoken() -> Bool {
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0 && descriptor.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
    }
}
