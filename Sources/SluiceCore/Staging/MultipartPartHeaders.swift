/// The headers of one part of a `multipart/form-data` body.
public struct MultipartPartHeaders: Sendable, Hashable {
    /// Every header, keyed by lowercased name (the last occurrence wins).
    public let fields: [String: String]
    /// The `name` parameter of `Content-Disposition` (the form field name).
    public let name: String?
    /// The file name from `Content-Disposition`: `filename*` (RFC 5987) if present and valid,
    /// else `filename`. Unsanitized: pass it through ``FileNameSanitizer``.
    public let filename: String?
    /// The part's `Content-Type`, if any.
    public let contentType: String?

    /// Derives the form field name, file name and content type from `fields`.
    public init(fields: [String: String]) {
        self.fields = fields
        let disposition = fields["content-disposition"].map(HeaderParameters.parse)?.parameters ?? [:]
        self.name = disposition["name"]
        self.filename = disposition["filename*"].flatMap(HeaderParameters.decodeExtendedValue) ?? disposition["filename"]
        self.contentType = fields["content-type"]
    }

    /// Parses a header block (without the terminating empty line).
    init(block: ArraySlice<UInt8>) throws(MultipartError) {
        var fields: [String: String] = [:]
        var lastName: String?
        let text = String(decoding: block, as: UTF8.self)
        for line in text.split(separator: "\r\n" as Character) {
            if let first = line.first, first == " " || first == "\t", let name = lastName {
                // Obsolete line folding: a continuation of the previous header.
                fields[name, default: ""] += " " + line.trimmingWhitespace()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                throw MultipartError(code: MultipartError.Code.malformedHeaders,
                                     message: "part header line without a colon: \(line.prefix(100))")
            }
            let name = line[..<colon].trimmingWhitespace().lowercased()
            guard !name.isEmpty else {
                throw MultipartError(code: MultipartError.Code.malformedHeaders, message: "part header with an empty name")
            }
            fields[name] = line[line.index(after: colon)...].trimmingWhitespace()
            lastName = name
        }
        self.init(fields: fields)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
