import SluiceCommon

/// Byte-level parsing of field text into COPY-ready text, one function per schema type family.
///
/// Inputs are trimmed of surrounding spaces and tabs by the caller. Failures carry a
/// ``RecordRejection/Code`` and a message; the validator adds the field name.
enum FieldText {
    /// A value that is not of its type, with one of `RecordRejection.Code`'s codes.
    typealias Failure = CodedFailure<RecordRejection.Code>

    typealias Bytes = UnsafeBufferPointer<UInt8>

    /// Checks `text` as a value of `type` and appends its PostgreSQL text to `row`.
    static func append(_ text: Bytes, as type: AvroType, to row: inout ValidatedRow) throws(Failure) {
        switch type {
        case .string:
            try checkText(text)
            row.append(text)
        case .int, .long:
            _ = try integer(text, bits: type == .int ? 32 : 64, code: RecordRejection.Code.invalidInt, what: "an integer")
            row.append(text)
        case .float, .double:
            try checkNumber(text, single: type == .float)
            row.append(text)
        case .boolean: row.append(try boolean(text))
        case .date: row.append(try date(text))
        case .timestampMillis: row.append(try timestamp(text))
        }
    }

    /// `text` with leading and trailing spaces and tabs removed.
    static func trimmed(_ text: Bytes) -> Bytes {
        var start = 0
        var end = text.count
        while start < end, text[start] == 0x20 || text[start] == 0x09 { start += 1 }
        while end > start, text[end - 1] == 0x20 || text[end - 1] == 0x09 { end -= 1 }
        return Bytes(rebasing: text[start..<end])
    }

    /// `text` without leading and trailing ASCII whitespace (space, tab, CR, LF, VT, FF), as the
    /// `trim` step defines it.
    static func trimmedWhitespace(_ text: Bytes) -> Bytes {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var start = 0
        var end = text.count
        while start < end, isSpace(text[start]) { start += 1 }
        while end > start, isSpace(text[end - 1]) { end -= 1 }
        return Bytes(rebasing: text[start..<end])
    }

    /// Checks that PostgreSQL can store `text`: valid UTF-8 without NUL.
    static func checkText(_ text: Bytes) throws(Failure) {
        if isASCIIWithoutNUL(text) { return }
        guard isValidUTF8(text) else {
            throw Failure(code: RecordRejection.Code.invalidUTF8, message: "the text is not valid UTF-8")
        }
        guard !text.contains(0) else {
            throw Failure(code: RecordRejection.Code.invalidText, message: "the text contains NUL, which PostgreSQL cannot store")
        }
    }

    /// Whether `text` is valid UTF-8.
    static func isValidUTF8(_ text: Bytes) -> Bool {
        isASCIIWithoutNUL(text) || String(validating: text, as: UTF8.self) != nil
    }

    /// Whether every byte is ASCII and none is NUL: the common case, checked eight bytes at a time.
    private static func isASCIIWithoutNUL(_ text: Bytes) -> Bool {
        guard let base = text.baseAddress else { return true }
        let highBits: UInt64 = 0x8080_8080_8080_8080, ones: UInt64 = 0x0101_0101_0101_0101
        var index = 0
        while index + 8 <= text.count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            // The second test is non-zero iff some byte is zero (for bytes below 0x80).
            guard word & highBits == 0, (word &- ones) & ~word & highBits == 0 else { return false }
            index += 8
        }
        while index < text.count {
            guard text[index] != 0, text[index] < 0x80 else { return false }
            index += 1
        }
        return true
    }

    private static func ascii(_ text: Bytes) -> String { String(decoding: text, as: UTF8.self) }

    static func quoted(_ text: Bytes) -> String {
        let string = String(decoding: text.prefix(40), as: UTF8.self)
        return text.count > 40 ? "'\(string)…'" : "'\(string)'"
    }

    // MARK: Numbers

    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// An optionally signed decimal integer of `bits` (32 or 64) bits.
    static func integer(_ text: Bytes, bits: Int, code: String, what: String) throws(Failure) -> Int64 {
        var index = 0
        var negative = false
        if let first = text.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        guard index < text.count else { throw Failure(code: code, message: "\(quoted(text)) is not \(what)") }
        var magnitude: UInt64 = 0
        var overflow = false
        while index < text.count {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw Failure(code: code, message: "\(quoted(text)) is not \(what)") }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            overflow = overflow || overflow1 || overflow2
            magnitude = sum
            index += 1
        }
        let limit: UInt64 = (1 << (bits - 1)) - (negative ? 0 : 1)
        guard !overflow, magnitude <= limit else {
            throw Failure(code: RecordRejection.Code.outOfRange, message: "\(quoted(text)) does not fit in \(bits) bits")
        }
        return negative ? Int64(bitPattern: 0 &- magnitude) : Int64(magnitude)
    }

    /// Checks a finite decimal number (`1`, `-1.5`, `.5`, `1e3`) that PostgreSQL can store without
    /// overflowing or underflowing; `NaN` and `Infinity` are rejected.
    static func checkNumber(_ text: Bytes, single: Bool) throws(Failure) {
        func invalid() -> Failure { Failure(code: RecordRejection.Code.invalidNumber, message: "\(quoted(text)) is not a finite number") }
        var index = 0
        if let first = text.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { index = 1 }
        var digits = 0
        var nonZero = false
        var sawPoint = false
        var sawExponent = false
        while index < text.count {
            let byte = text[index]
            if isDigit(byte) {
                digits += 1
                nonZero = nonZero || byte != UInt8(ascii: "0")
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                guard digits > 0 else { throw invalid() }
                index += 1
                if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") { index += 1 }
                guard index < text.count, text[index...].allSatisfy(isDigit) else { throw invalid() }
                sawExponent = true
                break
            } else {
                throw invalid()
            }
            index += 1
        }
        guard digits > 0 else { throw invalid() }
        // Short plain literals are always in range; others are parsed as PostgreSQL would.
        guard sawExponent || text.count > 15 else { return }
        let string = ascii(text)
        let magnitude = single ? Float(string).map(Double.init) : Double(string)
        guard let magnitude, magnitude.isFinite, magnitude != 0 || !nonZero else {
            throw Failure(code: RecordRejection.Code.outOfRange, message: "\(quoted(text)) is out of range for \(single ? "float" : "double")")
        }
    }

    // MARK: Booleans

    static func boolean(_ text: Bytes) throws(Failure) -> String {
        if text.count <= 5 {
            switch ascii(text).lowercased() {
            case "true", "t", "1", "yes": return "t"
            case "false", "f", "0", "no": return "f"
            default: break
            }
        }
        throw Failure(code: RecordRejection.Code.invalidBoolean, message: "\(quoted(text)) is not a boolean")
    }
}
