/// A streaming RFC 4180 CSV parser: bytes go in as they arrive, complete records come out.
///
/// Handles quoted fields holding delimiters, doubled quotes and line breaks, CRLF or LF line ends,
/// and a UTF-8 byte-order mark at the start. Fields are kept as bytes; decoding (and rejecting bad
/// UTF-8) is the caller's per-record decision, so one bad row never fails the file.
public struct CSVParser: Sendable {
    /// One record: its fields and the line it starts on (1-based, counting physical lines).
    public struct Record: Sendable, Equatable {
        public var fields: [[UInt8]]
        public var line: Int

        /// The fields as strings, or `nil` if any is not valid UTF-8.
        public func strings() -> [String]? {
            var strings: [String] = []
            strings.reserveCapacity(fields.count)
            for field in fields {
                guard let string = String(validating: field, as: UTF8.self) else { return nil }
                strings.append(string)
            }
            return strings
        }
    }

    /// A quote opened and never closed: the file ends inside a quoted field.
    public struct UnterminatedQuote: Error, Sendable, CustomStringConvertible {
        public let line: Int
        public var description: String { "a quoted field opened on line \(line) is never closed" }
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }

    private let delimiter: UInt8
    private let quote: UInt8
    private var state = State.fieldStart
    private var field: [UInt8] = []
    private var fields: [[UInt8]] = []
    private var line = 1
    private var recordLine = 1
    private var atStart = true
    private var bomProgress = 0

    public init(delimiter: UInt8 = UInt8(ascii: ","), quote: UInt8 = UInt8(ascii: "\"")) {
        self.delimiter = delimiter
        self.quote = quote
    }

    /// Bytes held for the record not yet complete, and the line it starts on.
    public var pending: (bytes: Int, line: Int) { (fields.reduce(field.count) { $0 + $1.count + 1 }, recordLine) }

    /// Parses `bytes`, calling `emit` for every record they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (Record) throws -> Void) rethrows {
        for byte in bytes {
            if atStart {
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                if byte == bom[bomProgress] {
                    bomProgress += 1
                    if bomProgress == 3 { atStart = false }
                    continue
                }
                atStart = false
                let partial = bom.prefix(bomProgress)
                bomProgress = 0
                for pending in partial { try consume(pending, emit) }
            }
            try consume(byte, emit)
        }
    }

    /// Ends the input: emits a last record without a trailing line break.
    public mutating func finish(_ emit: (Record) throws -> Void) throws {
        switch state {
        case .quoted:
            throw UnterminatedQuote(line: recordLine)
        case .fieldStart where fields.isEmpty && field.isEmpty:
            return
        case .afterCR:
            return
        default:
            try endRecord(emit)
        }
    }

    private mutating func consume(_ byte: UInt8, _ emit: (Record) throws -> Void) rethrows {
        switch state {
        case .afterCR:
            state = .fieldStart
            if byte == UInt8(ascii: "\n") { return }
            try consume(byte, emit)
        case .quoted:
            if byte == quote {
                state = .quoteInQuoted
            } else {
                if byte == UInt8(ascii: "\n") { line += 1 }
                field.append(byte)
            }
        case .quoteInQuoted:
            if byte == quote {
                field.append(quote)
                state = .quoted
            } else {
                state = .unquoted
                try consume(byte, emit)
            }
        case .fieldStart, .unquoted:
            switch byte {
            case quote where state == .fieldStart:
                state = .quoted
            case delimiter:
                fields.append(field)
                field = []
                state = .fieldStart
            case UInt8(ascii: "\r"):
                try endRecord(emit)
                state = .afterCR
                line += 1
            case UInt8(ascii: "\n"):
                try endRecord(emit)
                line += 1
            default:
                field.append(byte)
                state = .unquoted
            }
        }
    }

    private mutating func endRecord(_ emit: (Record) throws -> Void) rethrows {
        fields.append(field)
        field = []
        let record = Record(fields: fields, line: recordLine)
        fields = []
        state = .fieldStart
        recordLine = line + 1
        // A blank line is no record.
        if !(record.fields.count == 1 && record.fields[0].isEmpty) { try emit(record) }
    }
}
