/// Writing text into JSON and CSV output, as generated sample data and record exports do.
enum TextEscaping {
    /// `text` as a JSON string literal, quotes included.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `text` as one CSV field: quoted (quotes doubled) when it holds the delimiter, the quote or a line break.
    static func csvField(_ text: String, delimiter: Character = ",", quote: Character = "\"") -> String {
        guard text.contains(where: { $0 == delimiter || $0 == quote || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\(quote)\(text.replacingOccurrences(of: String(quote), with: "\(quote)\(quote)"))\(quote)"
    }
}
