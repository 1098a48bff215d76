/// Turns client-supplied file names into safe names for the staging directory.
public enum FileNameSanitizer {
    /// The maximum length of a sanitized name, in bytes.
    public static let maximumLength = 100
    /// The name used when nothing usable is left.
    public static let fallbackName = "upload"

    /// Keeps the last path component (split on `/` and `\`), drops control characters, replaces
    /// everything outside `[A-Za-z0-9._-]` with `_`, strips leading dots and shortens the name to
    /// ``maximumLength`` bytes while keeping its extensions (such as `.csv.gz`). Never empty.
    public static func sanitize(_ original: String) -> String {
        let component = original.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? ""
        var name = ""
        for scalar in component.unicodeScalars where !isControl(scalar) {
            name.unicodeScalars.append(isAllowed(scalar) ? scalar : "_")
        }
        name = String(name.drop(while: { $0 == "." }))
        if name.utf8.count > maximumLength {
            let extensions = self.extensions(of: name)
            let stem = name.dropLast(extensions.count).prefix(maximumLength - extensions.count)
            name = stem + extensions
        }
        return name.isEmpty ? fallbackName : name
    }

    /// The ingestion format of a file name: `csv`, `ndjson` (for `.ndjson` and `.jsonl`) or `json`,
    /// each optionally followed by `.gz`; case-insensitive. Nil for any other name.
    public static func fileType(of name: String) -> (format: String, gzip: Bool)? {
        var lowercased = name.lowercased()
        let gzip = lowercased.hasSuffix(".gz")
        if gzip { lowercased.removeLast(3) }
        let formats = [(".csv", "csv"), (".ndjson", "ndjson"), (".jsonl", "ndjson"), (".json", "json")]
        for (suffix, format) in formats where lowercased.hasSuffix(suffix) && lowercased.count > suffix.count {
            return (format, gzip)
        }
        return nil
    }

    /// Up to two trailing `.ext` components of 1 to 10 alphanumerics each (`.csv.gz`), as ASCII.
    private static func extensions(of name: String) -> String {
        var result = ""
        var rest = Substring(name)
        for _ in 0..<2 {
            guard let dot = rest.lastIndex(of: "."), dot != rest.startIndex else { break }
            let candidate = rest[rest.index(after: dot)...]
            guard (1...10).contains(candidate.count), candidate.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            else { break }
            result = "." + candidate + result
            rest = rest[..<dot]
        }
        return result
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }
}
