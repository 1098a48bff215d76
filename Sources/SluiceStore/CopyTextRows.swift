/// Rows in PostgreSQL's COPY text format, built field by field into one byte buffer: tab-separated,
/// `\N` for NULL, backslash, tab, newline and carriage return escaped.
///
/// A value type so that appending stays a plain array append (no class-property access checks);
/// hand the bytes to ``PostgresCopyWriter/write(_:)`` and ``removeAll()`` to reuse the storage.
public struct CopyTextRows: Sendable {
    /// The encoded rows so far.
    public private(set) var bytes: [UInt8] = []
    private var rowHasFields = false

    public init(capacity: Int = PostgresCopyWriter.chunkSize + 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// Bytes encoded so far.
    public var count: Int { bytes.count }

    /// Appends a NULL field.
    public mutating func appendNull() {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    /// Appends a field holding `text`, escaped.
    public mutating func append(_ text: UnsafeBufferPointer<UInt8>) {
        separate()
        // Most values need no escaping: copy them whole.
        guard text.contains(where: Self.needsEscape) else {
            bytes.append(contentsOf: text)
            return
        }
        for byte in text {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            default: bytes.append(byte)
            }
        }
    }

    /// Appends a field holding `text` (NULL for `nil`), escaped.
    public mutating func append(_ text: String?) {
        guard var text else { return appendNull() }
        text.withUTF8 { append($0) }
    }

    /// Appends a field holding the decimal text of `value`, without building a string.
    public mutating func append(_ value: Int) {
        separate()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    /// Ends the current row.
    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        rowHasFields = false
    }

    /// Empties the buffer, keeping its capacity.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        rowHasFields = false
    }

    private mutating func separate() {
        if rowHasFields { bytes.append(UInt8(ascii: "\t")) }
        rowHasFields = true
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }
}
