import SluiceStore

/// One record's values after validation, in schema order: each field's text (unescaped) or NULL.
///
/// Reused from record to record, so validating a row allocates nothing once its buffers have grown.
struct ValidatedRow {
    private var bytes: [UInt8] = []
    /// Each field's start in `bytes` and length, `-1` for NULL.
    private var spans: [(start: Int, count: Int)] = []

    /// Starts a new row.
    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
    }

    mutating func appendNull() {
        spans.append((bytes.count, -1))
    }

    mutating func append(_ text: UnsafeBufferPointer<UInt8>) {
        spans.append((bytes.count, text.count))
        bytes.append(contentsOf: text)
    }

    mutating func append(_ text: String?) {
        guard var text else { return appendNull() }
        text.withUTF8 { append($0) }
    }

    /// Field `index` as a string, `nil` for NULL.
    func string(_ index: Int) -> String? {
        let span = spans[index]
        guard span.count >= 0 else { return nil }
        return String(decoding: bytes[span.start..<span.start + span.count], as: UTF8.self)
    }

    /// Every field as a string, `nil` for NULL.
    var strings: [String?] { spans.indices.map(string) }

    /// Appends the fields to `rows` (the row is not ended, so callers can add columns).
    func encode(into rows: inout CopyTextRows) {
        bytes.withUnsafeBufferPointer { buffer in
            for span in spans {
                if span.count < 0 {
                    rows.appendNull()
                } else {
                    rows.append(UnsafeBufferPointer(rebasing: buffer[span.start..<span.start + span.count]))
                }
            }
        }
    }
}
