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
            var reader = Reader(bytes: buffer)
            reader.skipWhitespace()
            guard reader.peek() == UInt8(ascii: "{") else { throw reader.malformed("a record must be a JSON object") }
            let object = try reader.object()
            reader.skipWhitespace()
            guard reader.position == buffer.count else { throw reader.malformed("unexpected data after the object") }
            return object
        }
    }
}

private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var currentKey: String?

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count, JSONBytes.isWhitespace(bytes[position]) { position += 1 }
    }

    mutating func expect(_ byte: UInt8) throws(RecordRejection) {
        skipWhitespace()
        guard peek() == byte else { throw malformed("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    mutating func object() throws(RecordRejection) -> [String: RecordValue] {
        var members: [String: RecordValue] = [:]
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return members
        }
        while true {
            try expect(UInt8(ascii: "\""))
            currentKey = nil
            let key = try string()
            currentKey = key
            try expect(UInt8(ascii: ":"))
            members[key] = try value()
            skipWhitespace()
            guard let next = peek() else { throw malformed("the object is not closed") }
            position += 1
            if next == UInt8(ascii: "}") { return members }
            guard next == UInt8(ascii: ",") else { throw malformed("expected ',' or '}'") }
        }
    }

    mutating func value() throws(RecordRejection) -> RecordValue {
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

    mutating func literal(_ word: StaticString) throws(RecordRejection) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count,
              UnsafeBufferPointer(start: word.utf8Start, count: count).elementsEqual(bytes[position..<position + count])
        else { throw malformed("invalid literal") }
        position += count
    }

    /// A number per the JSON grammar, returned as its literal text.
    mutating func number() throws(RecordRejection) -> String {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek(), FieldText.isDigit(first) else { throw malformed("invalid value") }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard try skipRequiredDigits() else { throw malformed("invalid number") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard try skipRequiredDigits() else { throw malformed("invalid number") }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func skipDigits() {
        while let byte = peek(), FieldText.isDigit(byte) { position += 1 }
    }

    mutating func skipRequiredDigits() throws(RecordRejection) -> Bool {
        let start = position
        skipDigits()
        return position > start
    }

    /// The rest of a string whose opening quote was consumed.
    mutating func string() throws(RecordRejection) -> String {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return try validated(bytes[start..<position - 1])
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            guard byte >= 0x20 else { throw malformed("control character in a string") }
            position += 1
        }
        throw malformed("the string is not closed")
    }

    private mutating func escapedString(from start: Int) throws(RecordRejection) -> String {
        var decoded = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try validated(decoded[...])
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { break }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"): decoded.append(contentsOf: try unicodeEscape().utf8)
                default: throw malformed("invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw malformed("control character in a string") }
                decoded.append(byte)
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

    private func validated(_ slice: some Collection<UInt8>) throws(RecordRejection) -> String {
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw rejection(RecordRejection.Code.invalidUTF8, "a string is not valid UTF-8")
        }
        return string
    }

    /// Skips a nested array or object, checking its structure.
    mutating func skipNested() throws(RecordRejection) {
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

    func malformed(_ message: String) -> RecordRejection {
        rejection(RecordRejection.Code.malformedRecord, "\(message) at byte \(position)")
    }

    func rejection(_ code: String, _ message: String) -> RecordRejection {
        RecordRejection(field: currentKey, code: code, message: message)
    }
}
