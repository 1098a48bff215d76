/// Parses header values of the form `value; name=token; name="quoted string"`
/// (`Content-Type`, `Content-Disposition`).
enum HeaderParameters {
    /// The leading value (trimmed) and the parameters, keyed by lowercased name.
    ///
    /// In quoted strings a backslash escapes only `"` and `\`, so Windows paths sent unescaped
    /// by browsers (`C:\dir\x.csv`) survive.
    static func parse(_ header: String) -> (value: String, parameters: [String: String]) {
        let bytes = Array(header.utf8)
        var index = 0
        let value = readToken(bytes, &index)
        var parameters: [String: String] = [:]
        while index < bytes.count {
            index += 1  // the ';'
            let name = readToken(bytes, &index, stopAtEquals: true).lowercased()
            var parameterValue = ""
            if index < bytes.count, bytes[index] == UInt8(ascii: "=") {
                index += 1
                skipWhitespace(bytes, &index)
                if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                    parameterValue = readQuoted(bytes, &index)
                    _ = readToken(bytes, &index)  // ignore anything up to the next ';'
                } else {
                    parameterValue = readToken(bytes, &index)
                }
            }
            if !name.isEmpty { parameters[name] = parameterValue }
        }
        return (value, parameters)
    }

    /// Decodes an RFC 5987 extended value such as `UTF-8''%E2%82%AC%20rates.csv`
    /// (charsets UTF-8 and ISO-8859-1); nil if it is malformed.
    static func decodeExtendedValue(_ value: String) -> String? {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3 else { return nil }
        var bytes: [UInt8] = []
        var iterator = pieces[2].utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        switch pieces[0].lowercased() {
        case "utf-8": return String(validating: bytes, as: UTF8.self)
        case "iso-8859-1": return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        default: return nil
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    private static func skipWhitespace(_ bytes: [UInt8], _ index: inout Int) {
        while index < bytes.count, isWhitespace(bytes[index]) { index += 1 }
    }

    /// Reads up to the next `;` (or `=`), trimming surrounding whitespace.
    private static func readToken(_ bytes: [UInt8], _ index: inout Int, stopAtEquals: Bool = false) -> String {
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: ";"),
              !(stopAtEquals && bytes[index] == UInt8(ascii: "=")) {
            index += 1
        }
        var slice = bytes[start..<index]
        while let first = slice.first, isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWhitespace(last) { slice = slice.dropLast() }
        return String(decoding: slice, as: UTF8.self)
    }

    /// Reads a quoted string starting at the opening quote; stops after the closing quote.
    private static func readQuoted(_ bytes: [UInt8], _ index: inout Int) -> String {
        var result: [UInt8] = []
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\"), index < bytes.count,
               bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "\\") {
                result.append(bytes[index])
                index += 1
            } else {
                result.append(byte)
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
