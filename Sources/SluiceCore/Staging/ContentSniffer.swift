/// What a file contains, judged from its first bytes.
public enum ContentKind: String, Sendable, Hashable, CaseIterable {
    case gzip
    /// A zip archive, including xlsx, docx, odt and jar files.
    case zip
    case pdf
    /// PNG, JPEG, GIF or WebP.
    case image
    /// ELF or Windows (MZ) executables.
    case executable
    /// An OLE compound document: legacy `.xls`, `.doc`, `.msg`.
    case ole
    /// Valid UTF-8 (optionally with a BOM) without NUL bytes.
    case text
    case binary
}

/// Classifies uploads by their magic numbers.
public enum ContentSniffer {
    /// How many leading bytes ``kind(of:)`` needs to judge a file.
    public static let prefixLength = 4096

    private static let utf8BOM: [UInt8] = [0xEF, 0xBB, 0xBF]
    private static let signatures: [(bytes: [UInt8], kind: ContentKind)] = [
        ([0x1F, 0x8B], .gzip),
        ([0x50, 0x4B, 0x03, 0x04], .zip),
        ([0x50, 0x4B, 0x05, 0x06], .zip),  // empty archive
        ([0x50, 0x4B, 0x07, 0x08], .zip),  // spanned archive
        (Array("%PDF-".utf8), .pdf),
        ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], .image),
        ([0xFF, 0xD8, 0xFF], .image),
        (Array("GIF87a".utf8), .image),
        (Array("GIF89a".utf8), .image),
        ([0x7F, 0x45, 0x4C, 0x46], .executable),
        ([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1], .ole),
    ]

    /// Classifies a file from its first bytes (ideally ``prefixLength`` of them, fewer for short files).
    ///
    /// A multi-byte UTF-8 sequence cut off at the end of `prefix` still counts as text.
    public static func kind(of prefix: [UInt8]) -> ContentKind {
        for signature in signatures where prefix.starts(with: signature.bytes) {
            return signature.kind
        }
        if prefix.count >= 12 && prefix.starts(with: Array("RIFF".utf8))
            && prefix[8..<12].elementsEqual("WEBP".utf8) {
            return .image
        }
        // "MZ" alone could start a CSV line; a DOS header has NUL bytes right after it.
        if prefix.starts(with: Array("MZ".utf8)) && prefix.prefix(64).contains(0) {
            return .executable
        }
        let body = prefix.starts(with: utf8BOM) ? prefix[utf8BOM.count...] : prefix[...]
        return isText(body) ? .text : .binary
    }

    /// The first byte after an optional UTF-8 BOM and whitespace (space, tab, CR, LF), telling
    /// JSON (`[`) from NDJSON (`{`); nil if there is none.
    public static func firstSignificantByte(_ prefix: [UInt8]) -> UInt8? {
        let body = prefix.starts(with: utf8BOM) ? prefix[utf8BOM.count...] : prefix[...]
        return body.first { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A) }
    }

    /// Valid UTF-8 without NUL, tolerating an incomplete sequence at the very end.
    private static func isText(_ bytes: ArraySlice<UInt8>) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let lead = bytes[index]
            if lead < 0x80 {
                if lead == 0 { return false }
                index += 1
                continue
            }
            // The allowed range of the second byte excludes overlong forms, surrogates and > U+10FFFF.
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return false
            }
            for offset in 1..<length {
                guard index + offset < bytes.endIndex else { return true }
                let byte = bytes[index + offset]
                let range = offset == 1 ? low...high : 0x80...0xBF
                guard range.contains(byte) else { return false }
            }
            index += length
        }
        return true
    }
}
