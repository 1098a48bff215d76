/// A streaming RFC 4180 CSV parser: bytes go in as they arrive, complete records come out.
///
/// Handles quoted fields holding delimiters, doubled quotes and line breaks, CRLF or LF line ends,
/// and a UTF-8 byte-order mark at the start. Fields are kept as bytes; decoding (and rejecting bad
/// UTF-8) is the caller's per-record decision, so one bad row never fails the file.
///
/// A record's fields share one buffer that the parser reuses, so parsing allocates nothing per
/// record as long as the records it emits are not kept.
public struct CSVParser: Sendable {
    /// One record: its fields and the line it starts on (1-based, counting physical lines).
    public struct Record: Sendable, Equatable {
        public fileprivate(set) var line: Int
        /// The fields' bytes, back to back.
        fileprivate var bytes: [UInt8]
        /// Where each field ends in `bytes`.
        fileprivate var ends: [Int]

        public init(fields: [[UInt8]], line: Int) {
            self.line = line
            bytes = Array(fields.joined())
            ends = []
            var end = 0
            for field in fields {
                end += field.count
                ends.append(end)
            }
        }

        /// The number of fields.
        public var count: Int { ends.count }

        /// Each field's bytes.
        public var fields: [[UInt8]] { withFields { fields in (0..<fields.count).map { Array(fields[$0]) } } }

        /// The fields as strings, or `nil` if any is not valid UTF-8.
        public func strings() -> [String]? {
            var strings: [String] = []
            strings.reserveCapacity(count)
            for field in fields {
                guard let string = String(validating: field, as: UTF8.self) else { return nil }
                strings.append(string)
            }
            return strings
        }

        /// The fields joined by `separator`.
        public func joined(separator: UInt8) -> [UInt8] { Array(fields.joined(separator: [separator])) }

        /// Calls `body` with the fields, valid only during the call.
        public func withFields<Result, Failure: Error>(_ body: (Fields) throws(Failure) -> Result) throws(Failure) -> Result {
            try bytes.withUnsafeBufferPointer { (bytes) throws(Failure) in
                try ends.withUnsafeBufferPointer { (ends) throws(Failure) in try body(Fields(bytes: bytes, ends: ends)) }
            }
        }

        /// A record's fields as byte buffers.
        public struct Fields {
            fileprivate let bytes: UnsafeBufferPointer<UInt8>
            fileprivate let ends: UnsafeBufferPointer<Int>

            public var count: Int { ends.count }

            public subscript(index: Int) -> UnsafeBufferPointer<UInt8> {
                let start = index == 0 ? 0 : ends[index - 1]
                return UnsafeBufferPointer(rebasing: bytes[start..<ends[index]])
            }
        }
    }

    /// A quote opened and never closed: the file ends inside a quoted field.
    public struct UnterminatedQuote: Error, Sendable, CustomStringConvertible {
        public let line: Int
        public var description: String { "a quoted field opened on line \(line) is never closed" }
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }

    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
    private static let lineFeed = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")

    private let delimiter: UInt8
    private let quote: UInt8
    private var state = State.fieldStart
    private var record: Record
    private var line = 1
    private var atStart = true
    private var bomProgress = 0

    public init(delimiter: UInt8 = UInt8(ascii: ","), quote: UInt8 = UInt8(ascii: "\"")) {
        self.delimiter = delimiter
        self.quote = quote
        record = Record(fields: [], line: 1)
    }

    /// Bytes held for the record not yet complete, and the line it starts on.
    public var pending: (bytes: Int, line: Int) { (record.bytes.count + record.ends.count, record.line) }

    /// Parses `bytes`, calling `emit` for every record they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (Record) throws -> Void) rethrows {
        if let done = try bytes.withContiguousStorageIfAvailable({ buffer in try feed(buffer, emit) }) { return done }
        try Array(bytes).withUnsafeBufferPointer { try feed($0, emit) }
    }

    /// Ends the input: emits a last record without a trailing line break.
    public mutating func finish(_ emit: (Record) throws -> Void) throws {
        if atStart {
            atStart = false
            try Self.byteOrderMark.prefix(bomProgress).withUnsafeBufferPointer { try scan($0, emit) }
        }
        switch state {
        case .quoted:
            throw UnterminatedQuote(line: record.line)
        case .fieldStart where record.ends.isEmpty && record.bytes.isEmpty:
            return
        case .afterCR:
            return
        default:
            try endRecord(emit)
        }
    }

    private mutating func feed(_ buffer: UnsafeBufferPointer<UInt8>, _ emit: (Record) throws -> Void) rethrows {
        var start = 0
        while atStart, start < buffer.count {
            let byte = buffer[start]
            if byte == Self.byteOrderMark[bomProgress] {
                bomProgress += 1
                start += 1
                if bomProgress == Self.byteOrderMark.count { atStart = false }
                continue
            }
            atStart = false
            // Not a byte-order mark after all: its bytes so far are data.
            try Self.byteOrderMark.prefix(bomProgress).withUnsafeBufferPointer { try scan($0, emit) }
        }
        try scan(UnsafeBufferPointer(rebasing: buffer[start...]), emit)
    }

    /// The state machine, copying runs of ordinary bytes at once.
    private mutating func scan(_ buffer: UnsafeBufferPointer<UInt8>, _ emit: (Record) throws -> Void) rethrows {
        var index = 0
        let count = buffer.count
        while index < count {
            switch state {
            case .afterCR:
                state = .fieldStart
                if buffer[index] == Self.lineFeed { index += 1 }
            case .quoted:
                let runStart = index
                while index < count, buffer[index] != quote {
                    if buffer[index] == Self.lineFeed { line += 1 }
                    index += 1
                }
                record.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<index]))
                if index < count {
                    state = .quoteInQuoted
                    index += 1
                }
            case .quoteInQuoted:
                if buffer[index] == quote {
                    record.bytes.append(quote)
                    state = .quoted
                    index += 1
                } else {
                    state = .unquoted
                }
            case .fieldStart, .unquoted:
                if state == .fieldStart, buffer[index] == quote {
                    state = .quoted
                    index += 1
                    continue
                }
                let runStart = index
                while index < count {
                    let byte = buffer[index]
                    if byte == delimiter || byte == Self.lineFeed || byte == Self.carriageReturn { break }
                    index += 1
                }
                if index > runStart {
                    record.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<index]))
                    state = .unquoted
                }
                guard index < count else { break }
                let byte = buffer[index]
                index += 1
                if byte == delimiter {
                    record.ends.append(record.bytes.count)
                    state = .fieldStart
                } else {
                    try endRecord(emit)
                    line += 1
                    if byte == Self.carriageReturn { state = .afterCR }
                }
            }
        }
    }

    private mutating func endRecord(_ emit: (Record) throws -> Void) rethrows {
        record.ends.append(record.bytes.count)
        state = .fieldStart
        // A blank line is no record.
        if !(record.ends.count == 1 && record.bytes.isEmpty) { try emit(record) }
        record.bytes.removeAll(keepingCapacity: true)
        record.ends.removeAll(keepingCapacity: true)
        record.line = line + 1
    }
}
