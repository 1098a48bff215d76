import Foundation

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
/// lines are skipped but still counted. The lines' content is not checked here. A line that lies
/// within one chunk of input is handed out in place; only lines split across chunks are copied.
public struct NDJSONSplitter: Sendable {
    /// The start of a line whose end has not arrived yet.
    private var buffer: [UInt8] = []
    private var line = 1
    private var bomProgress = 0
    private var atStart = true

    public init() {}

    /// Bytes held for the line not yet complete.
    public var pendingBytes: Int { buffer.count }

    /// Splits `bytes`, calling `emit` for every line they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (RawRecord) throws -> Void) rethrows {
        try feedLines(bytes) { try emit(RawRecord(bytes: Array($0), line: $1)) }
    }

    /// Ends the input: emits a last line without a trailing line break.
    public mutating func finish(_ emit: (RawRecord) throws -> Void) rethrows {
        try finishLines { try emit(RawRecord(bytes: Array($0), line: $1)) }
    }

    /// Splits `bytes`, calling `emit` with each completed line's bytes (valid during the call only)
    /// and its number.
    mutating func feedLines(_ bytes: some Collection<UInt8>, _ emit: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) rethrows {
        if let done = try bytes.withContiguousStorageIfAvailable({ try feedLines($0, emit) }) { return done }
        try Array(bytes).withUnsafeBufferPointer { try feedLines($0, emit) }
    }

    /// Ends the input, as ``feedLines(_:_:)`` does for lines.
    mutating func finishLines(_ emit: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) rethrows {
        if atStart { buffer.append(contentsOf: Self.bom.prefix(bomProgress)) }
        atStart = false
        try buffer.withUnsafeBufferPointer { try Self.emitLine($0, number: line, emit) }
        buffer.removeAll(keepingCapacity: true)
        line += 1
    }

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    private mutating func feedLines(_ input: UnsafeBufferPointer<UInt8>, _ emit: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) rethrows {
        guard let base = input.baseAddress else { return }
        var start = 0
        while atStart, start < input.count {
            if input[start] == Self.bom[bomProgress] {
                bomProgress += 1
                start += 1
                if bomProgress == Self.bom.count { atStart = false }
                continue
            }
            atStart = false
            buffer.append(contentsOf: Self.bom.prefix(bomProgress))
        }
        while start < input.count {
            guard let found = memchr(base + start, Int32(UInt8(ascii: "\n")), input.count - start) else {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: input[start...]))
                return
            }
            let end = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
            let piece = UnsafeBufferPointer(rebasing: input[start..<end])
            if buffer.isEmpty {
                try Self.emitLine(piece, number: line, emit)
            } else {
                buffer.append(contentsOf: piece)
                try buffer.withUnsafeBufferPointer { try Self.emitLine($0, number: line, emit) }
                buffer.removeAll(keepingCapacity: true)
            }
            line += 1
            start = end + 1
        }
    }

    private static func emitLine(_ bytes: UnsafeBufferPointer<UInt8>, number: Int,
                                 _ emit: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) rethrows {
        var line = bytes
        if line.last == UInt8(ascii: "\r") { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        guard line.contains(where: { !JSONBytes.isWhitespace($0) }) else { return }
        try emit(line, number)
    }
}

/// Byte classes shared by the JSON readers.
enum JSONBytes {
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
