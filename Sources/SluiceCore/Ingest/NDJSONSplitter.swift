/// One line of a newline-delimited JSON file: its bytes (without the line break) and 1-based line number.
public struct RawRecord: Sendable, Equatable {
    public var bytes: [UInt8]
    public var line: Int

    public init(bytes: [UInt8], line: Int) {
        self.bytes = bytes
        self.line = line
    }
}

/// A streaming splitter of newline-delimited JSON into lines.
///
/// Handles LF and CRLF line ends and a UTF-8 byte-order mark at the start; blank (whitespace-only)
/// lines are skipped but still counted. The lines' content is not checked here.
public struct NDJSONSplitter: Sendable {
    private var buffer: [UInt8] = []
    private var line = 1
    private var bomProgress = 0
    private var atStart = true

    public init() {}

    /// Bytes held for the line not yet complete.
    public var pendingBytes: Int { buffer.count }

    /// Splits `bytes`, calling `emit` for every line they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (RawRecord) throws -> Void) rethrows {
        for byte in bytes {
            if atStart {
                if byte == Self.bom[bomProgress] {
                    bomProgress += 1
                    if bomProgress == Self.bom.count { atStart = false }
                    continue
                }
                atStart = false
                buffer.append(contentsOf: Self.bom.prefix(bomProgress))
            }
            if byte == UInt8(ascii: "\n") {
                try endLine(emit)
            } else {
                buffer.append(byte)
            }
        }
    }

    /// Ends the input: emits a last line without a trailing line break.
    public mutating func finish(_ emit: (RawRecord) throws -> Void) rethrows {
        if atStart { buffer.append(contentsOf: Self.bom.prefix(bomProgress)) }
        atStart = false
        try endLine(emit)
    }

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    private mutating func endLine(_ emit: (RawRecord) throws -> Void) rethrows {
        defer {
            buffer.removeAll(keepingCapacity: true)
            line += 1
        }
        if buffer.last == UInt8(ascii: "\r") { buffer.removeLast() }
        guard buffer.contains(where: { !JSONBytes.isWhitespace($0) }) else { return }
        try emit(RawRecord(bytes: buffer, line: line))
    }
}

/// Byte classes shared by the JSON readers.
enum JSONBytes {
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
