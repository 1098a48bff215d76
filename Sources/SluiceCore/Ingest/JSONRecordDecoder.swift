/// Decodes one JSON object into its top-level members, keeping numbers as their literal text.
///
/// Nested arrays and objects are checked for well-formedness and become ``RecordValue/nested``.
/// Errors are ``RecordRejection``s: `malformed_record`, or `invalid_utf8` for bad string bytes.
public enum JSONRecordDecoder {
    /// Deeper nesting than this is rejected rather than risking the stack.
    static let maxDepth = 256

    /// Decodes `bytes`, which must hold exactly one JSON object (surrounding whitespace allowed).
    public static func decode(_ bytes: [UInt8]) throws(RecordRejection) -> [String: RecordValue] {
        try bytes.withUnsafeBufferPointer { (buffer) throws(RecordRejection) in
            var members: [String: RecordValue] = [:]
            var reader = JSONReader(bytes: buffer, scratch: [])
            try reader.beginObject()
            while let (key, value) = try reader.nextMember() {
                members[reader.string(key)] = reader.recordValue(value)
            }
            try reader.endDocument()
            return members
        }
    }
}

/// Where a decoded string or number lies: in the record's bytes, or (strings with escapes, decoded)
/// in the reader's scratch buffer.
struct JSONSpan: Sendable {
    var start: Int
    var count: Int
    var inScratch: Bool

    /// Calls `body` with the span's bytes, taken from `record` or from `scratch`.
    func withBytes<Result, Failure: Error>(record: UnsafeBufferPointer<UInt8>, scratch: [UInt8],
                                           _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        guard inScratch else { return try body(UnsafeBufferPointer(rebasing: record[start..<start + count])) }
        return try scratch.withUnsafeBufferPointer { (buffer) throws(Failure) in
            try body(UnsafeBufferPointer(rebasing: buffer[start..<start + count]))
        }
    }
}

/// One decoded member value; strings and numbers stay as spans until they are needed.
enum JSONMember: Sendable {
    case null
    case bool(Bool)
    case nested
    case string(JSONSpan)
    case number(JSONSpan)
}

/// A pull parser over one JSON object: ``beginObject()``, then ``nextMember()`` until `nil`, then
/// ``endDocument()``.
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Decoded strings that held escapes, back to back.
    var scratch: [UInt8]
    private var position = 0
    private var currentKey: JSONSpan?
    private var membersRead = 0
    private var closed = false

    init(bytes: UnsafeBufferPointer<UInt8>, scratch: [UInt8]) {
        self.bytes = bytes
        self.scratch = scratch
    }

    mutating func beginObject() throws(RecordRejection) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw malformed("a record must be a JSON object") }
        position += 1
    }

    /// The next member's key and value, or `nil` after the closing brace.
    mutating func nextMember() throws(RecordRejection) -> (key: JSONSpan, value: JSONMember)? {
        guard !closed else { return nil }
        skipWhitespace()
        if membersRead == 0 {
            if peek() == UInt8(ascii: "}") {
                position += 1
                closed = true
                return nil
            }
        } else {
            guard let next = peek() else { throw malformed("the object is not closed") }
            position += 1
            if next == UInt8(ascii: "}") {
                closed = true
                return nil
            }
            guard next == UInt8(ascii: ",") else { throw malformed("expected ',' or '}'") }
        }
        try expect(UInt8(ascii: "\""))
        currentKey = nil
        let key = try string()
        currentKey = key
        try expect(UInt8(ascii: ":"))
        let value = try value()
        membersRead += 1
        return (key, value)
    }

    /// Checks that only whitespace follows the object.
    mutating func endDocument() throws(RecordRejection) {
        skipWhitespace()
        guard position == bytes.count else { throw malformed("unexpected data after the object") }
    }

    /// Calls `body` with the bytes of `span`.
    func withBytes<Result>(_ span: JSONSpan, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        span.withBytes(record: bytes, scratch: scratch, body)
    }

    func string(_ span: JSONSpan) -> String { withBytes(span) { String(decoding: $0, as: UTF8.self) } }

    func recordValue(_ member: JSONMember) -> RecordValue {
        switch member {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .nested: .nested
        case .string(let span): .string(string(span))
        case .number(let span): .number(string(span))
        }
    }

    // MARK: Grammar

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while position < bytes.count, JSONBytes.isWhitespace(bytes[position]) { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(RecordRejection) {
        skipWhitespace()
        guard peek() == byte else { throw malformed("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    private mutating func value() throws(RecordRejection) -> JSONMember {
        skipWhitespace()
        guard let byte = peek() else { throw malformed("a value is missing") }
        switch byte {
        case UInt8(ascii: "\""):
            position += 1
            return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipNested()
            return .nested
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws(RecordRejection) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count,
              UnsafeBufferPointer(start: word.utf8Start, count: count).elementsEqual(bytes[position..<position + count])
        else { throw malformed("invalid literal") }
        position += count
    }

    /// A number per the JSON grammar.
    private mutating func number() throws(RecordRejection) -> JSONSpan {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek(), FieldText.isDigit(first) else { throw malformed("invalid value") }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard skipRequiredDigits() else { throw malformed("invalid number") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard skipRequiredDigits() else { throw malformed("invalid number") }
        }
        return JSONSpan(start: start, count: position - start, inScratch: false)
    }

    private mutating func skipDigits() {
        while let byte = peek(), FieldText.isDigit(byte) { position += 1 }
    }

    private mutating func skipRequiredDigits() -> Bool {
        let start = position
        skipDigits()
        return position > start
    }

    /// The rest of a string whose opening quote was consumed.
    private mutating func string() throws(RecordRejection) -> JSONSpan {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                let span = JSONSpan(start: start, count: position - 1 - start, inScratch: false)
                try validate(span)
                return span
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            guard byte >= 0x20 else { throw malformed("control character in a string") }
            position += 1
        }
        throw malformed("the string is not closed")
    }

    private mutating func escapedString(from start: Int) throws(RecordRejection) -> JSONSpan {
        let decodedStart = scratch.count
        scratch.append(contentsOf: bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                let span = JSONSpan(start: decodedStart, count: scratch.count - decodedStart, inScratch: true)
                try validate(span)
                return span
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { break }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"): scratch.append(contentsOf: try unicodeEscape().utf8)
                default: throw malformed("invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw malformed("control character in a string") }
                scratch.append(byte)
            }
        }
        throw malformed("the string is not closed")
    }

    /// The character of a `\uXXXX` escape (whose `\u` was consumed), joining surrogate pairs.
    private mutating func unicodeEscape() throws(RecordRejection) -> String {
        let high = try hex4()
        var scalar = Unicode.Scalar(high)
        if (0xD800..<0xDC00).contains(high), peek() == UInt8(ascii: "\\"),
           position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") {
            position += 2
            let low = try hex4()
            if (0xDC00..<0xE000).contains(low) {
                scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            }
        }
        guard let scalar else { throw rejection(RecordRejection.Code.invalidUTF8, "unpaired surrogate escape in a string") }
        return String(Character(scalar))
    }

    private mutating func hex4() throws(RecordRejection) -> UInt32 {
        guard position + 4 <= bytes.count else { throw malformed("invalid \\u escape") }
        var value: UInt32 = 0
        for byte in bytes[position..<position + 4] {
            guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw malformed("invalid \\u escape") }
            value = value << 4 | UInt32(digit)
        }
        position += 4
        return value
    }

    private func validate(_ span: JSONSpan) throws(RecordRejection) {
        guard withBytes(span, FieldText.isValidUTF8) else {
            throw rejection(RecordRejection.Code.invalidUTF8, "a string is not valid UTF-8")
        }
    }

    /// Skips a nested array or object, checking its structure.
    private mutating func skipNested() throws(RecordRejection) {
        var open: [UInt8] = []
        while true {
            skipWhitespace()
            if let byte = peek(), byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                guard open.count < JSONRecordDecoder.maxDepth else { throw malformed("nesting is too deep") }
                position += 1
                skipWhitespace()
                if peek() == byte + 2 {
                    position += 1
                } else {
                    open.append(byte)
                    if byte == UInt8(ascii: "{") { try memberKey() }
                    continue
                }
            } else {
                _ = try value()
            }
            // After a value: close finished containers, or go on to the next element.
            while true {
                guard let innermost = open.last else { return }
                skipWhitespace()
                guard let next = peek() else { throw malformed("a nested value is not closed") }
                position += 1
                if next == innermost + 2 {
                    open.removeLast()
                    continue
                }
                guard next == UInt8(ascii: ",") else { throw malformed("expected ',' or a closing bracket") }
                if innermost == UInt8(ascii: "{") { try memberKey() }
                break
            }
        }
    }

    private mutating func memberKey() throws(RecordRejection) {
        try expect(UInt8(ascii: "\""))
        _ = try string()
        try expect(UInt8(ascii: ":"))
    }

    private func malformed(_ message: String) -> RecordRejection {
        rejection(RecordRejection.Code.malformedRecord, "\(message) at byte \(position)")
    }

    private func rejection(_ code: String, _ message: String) -> RecordRejection {
        RecordRejection(field: currentKey.map(string), code: code, message: message)
    }
}
