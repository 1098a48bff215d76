#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An incremental `multipart/form-data` (RFC 7578 / RFC 2046) parser.
///
/// Feed body chunks split at arbitrary points; part bodies are streamed as ``MultipartEvent/partData(_:)``
/// and never buffered whole. While looking for a delimiter the parser holds back at most as many bytes as
/// the delimiter (`CRLF--boundary`) is long; a part's header block is buffered up to
/// `maximumHeaderBytes`. Single owner. After an error every further call throws it again.
public struct MultipartParser: Sendable {
    private enum State {
        case preamble, afterDelimiter, headers, body, done
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let dash = UInt8(ascii: "-")
    private static let headerTerminator: [UInt8] = [cr, lf, cr, lf]

    /// `CRLF--boundary`.
    private let delimiter: [UInt8]
    private let maximumHeaderBytes: Int
    /// Unconsumed input: a possible partial delimiter, or an incomplete header block.
    private var buffer: [UInt8]
    private var state = State.preamble
    /// Bytes of the current header block (or delimiter padding) already scanned.
    private var headerBytesScanned = 0
    private var failure: MultipartError?

    /// Extracts the boundary from a `multipart/*` content type such as
    /// `multipart/form-data; boundary="abc"`; nil if absent, empty or longer than 70 bytes.
    public static func boundary(fromContentType contentType: String) -> String? {
        let (value, parameters) = HeaderParameters.parse(contentType)
        guard value.lowercased().hasPrefix("multipart/"),
              let boundary = parameters["boundary"], (1...70).contains(boundary.utf8.count) else {
            return nil
        }
        return boundary
    }

    /// Creates a parser for `boundary` (as returned by ``boundary(fromContentType:)``).
    public init(boundary: String, maximumHeaderBytes: Int = 16 * 1024) {
        precondition(!boundary.isEmpty, "the multipart boundary must not be empty")
        self.delimiter = Array("\r\n--\(boundary)".utf8)
        self.maximumHeaderBytes = maximumHeaderBytes
        // The first delimiter may start the body without a preceding CRLF: pretend there was one.
        self.buffer = [Self.cr, Self.lf]
    }

    /// Parses the next chunk of the body and returns the events it completes.
    public mutating func feed(_ chunk: [UInt8]) throws(MultipartError) -> [MultipartEvent] {
        if let failure { throw failure }
        if state == .done { return [] }
        buffer.append(contentsOf: chunk)
        var events: [MultipartEvent] = []
        var position = 0
        do {
            try parse(&events, &position)
        } catch {
            failure = error
            throw error
        }
        buffer.removeSubrange(0..<position)
        return events
    }

    /// Checks that the body ended with the closing delimiter; returns no further events then.
    public mutating func finish() throws(MultipartError) -> [MultipartEvent] {
        if let failure { throw failure }
        guard state == .done else {
            let error = MultipartError(code: MultipartError.Code.missingClosingBoundary,
                                       message: "the multipart body ended without its closing boundary")
            failure = error
            throw error
        }
        return []
    }

    private mutating func parse(_ events: inout [MultipartEvent], _ position: inout Int) throws(MultipartError) {
        while true {
            switch state {
            case .preamble, .body:
                let inBody = state == .body
                var searchFrom = position
                var delimiterAt: Int?
                var dataEnd = buffer.count
                while let match = find(delimiter, from: searchFrom) {
                    let after = match + delimiter.count
                    guard after < buffer.count else {
                        dataEnd = match  // wait for the byte that tells whether this is a delimiter
                        break
                    }
                    if Self.canFollowDelimiter(buffer[after]) {
                        delimiterAt = match
                        break
                    }
                    searchFrom = match + 1  // boundary-like bytes inside the body
                }
                if delimiterAt == nil && dataEnd == buffer.count {
                    dataEnd -= partialDelimiterLength(from: searchFrom)
                }
                let end = delimiterAt ?? dataEnd
                if inBody && end > position { events.append(.partData(Array(buffer[position..<end]))) }
                guard let delimiterAt else {
                    position = end
                    return
                }
                if inBody { events.append(.partEnd) }
                position = delimiterAt + delimiter.count
                state = .afterDelimiter
                headerBytesScanned = 0
            case .afterDelimiter:
                guard buffer.count - position >= 2 else { return }
                let first = buffer[position], second = buffer[position + 1]
                if first == Self.dash && second == Self.dash {
                    state = .done
                    events.append(.end)
                    position = buffer.count
                    return
                } else if first == Self.cr && second == Self.lf {
                    position += 2
                    state = .headers
                    headerBytesScanned = 0
                } else if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                    // Transport padding after the boundary; counted against the header limit.
                    position += 1
                    headerBytesScanned += 1
                    try checkHeaderSize(headerBytesScanned)
                } else {
                    throw MultipartError(code: MultipartError.Code.malformedDelimiter,
                                         message: "a multipart boundary is followed by unexpected bytes")
                }
            case .headers:
                if buffer.count - position >= 2 && buffer[position] == Self.cr && buffer[position + 1] == Self.lf {
                    // An empty header block.
                    position += 2
                    events.append(.partBegin(MultipartPartHeaders(fields: [:])))
                    state = .body
                    continue
                }
                let scanFrom = position + max(0, headerBytesScanned - (Self.headerTerminator.count - 1))
                guard let end = find(Self.headerTerminator, from: scanFrom) else {
                    headerBytesScanned = buffer.count - position
                    // The last bytes may begin the terminator: the block is at least this long.
                    try checkHeaderSize(headerBytesScanned - (Self.headerTerminator.count - 1))
                    return
                }
                try checkHeaderSize(end - position)
                events.append(.partBegin(try MultipartPartHeaders(block: buffer[position..<end])))
                position = end + Self.headerTerminator.count
                state = .body
            case .done:
                position = buffer.count
                return
            }
        }
    }

    /// Whether `byte` may follow `CRLF--boundary` in a delimiter (`--`, CRLF, or padding);
    /// anything else means the bytes are body data that merely resemble one.
    private static func canFollowDelimiter(_ byte: UInt8) -> Bool {
        byte == dash || byte == cr || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    private func checkHeaderSize(_ size: Int) throws(MultipartError) {
        guard size <= maximumHeaderBytes else {
            throw MultipartError(code: MultipartError.Code.headersTooLarge,
                                 message: "a part's headers exceed \(maximumHeaderBytes) bytes")
        }
    }

    /// The index of the first occurrence of `pattern` (which starts with CR) at or after `start`.
    private func find(_ pattern: [UInt8], from start: Int) -> Int? {
        guard buffer.count - start >= pattern.count else { return nil }
        return buffer.withUnsafeBufferPointer { haystack in
            pattern.withUnsafeBufferPointer { needle in
                let base = UnsafeRawPointer(haystack.baseAddress!)
                var index = start
                let last = haystack.count - needle.count
                while index <= last {
                    guard let hit = memchr(base + index, Int32(Self.cr), last - index + 1) else { return nil }
                    index = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + index, needle.baseAddress!, needle.count) == 0 { return index }
                    index += 1
                }
                return nil
            }
        }
    }

    /// The length of the longest suffix of the buffer (after `start`) that begins the delimiter;
    /// always shorter than the delimiter.
    private func partialDelimiterLength(from start: Int) -> Int {
        var index = max(start, buffer.count - (delimiter.count - 1))
        while index < buffer.count {
            if buffer[index] == Self.cr && buffer[index...].elementsEqual(delimiter.prefix(buffer.count - index)) {
                return buffer.count - index
            }
            index += 1
        }
        return 0
    }
}
