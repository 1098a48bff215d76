/// Decodes JSON records straight into schema order: each schema field's member, found by comparing
/// key bytes (members usually come in schema order, so the next field is tried first), without a
/// dictionary or a string per member. A key beyond ASCII that matches no name byte for byte is
/// compared as a string, as the dictionary path compares it. Members not in the schema are checked
/// and skipped; a key that repeats keeps its last value, as in ``JSONRecordDecoder``.
///
/// Reused from record to record; its buffers are kept.
struct JSONFieldDecoder {
    private let names: [[UInt8]]
    /// The names as strings, for keys spelled differently from every name (see ``field(named:from:)``).
    private let nameStrings: [String]
    private let hasNonASCIIName: Bool
    /// Each schema field's member in the last record decoded, `nil` when absent.
    private(set) var members: [JSONMember?]
    private var scratch: [UInt8] = []

    init(schema: AvroRecordSchema) {
        names = schema.fields.map { Array($0.name.utf8) }
        nameStrings = schema.fields.map(\.name)
        hasNonASCIIName = names.contains { $0.contains { $0 >= 0x80 } }
        members = Array(repeating: nil, count: names.count)
    }

    /// Decodes one record, which must hold exactly one JSON object, into ``members``.
    mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(RecordRejection) {
        for index in members.indices { members[index] = nil }
        scratch.removeAll(keepingCapacity: true)
        var reader = JSONReader(bytes: bytes, scratch: scratch)
        scratch = []
        defer { scratch = reader.scratch }
        try reader.beginObject()
        var expected = 0
        while let (key, value) = try reader.nextMember() {
            guard let index = reader.withBytes(key, { field(named: $0, from: expected) }) else { continue }
            members[index] = value
            expected = index + 1
        }
        try reader.endDocument()
    }

    /// Calls `body` with the bytes of a span of the record last decoded from `bytes`.
    func withBytes<Result, Failure: Error>(_ span: JSONSpan, of bytes: UnsafeBufferPointer<UInt8>,
                                           _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        try span.withBytes(record: bytes, scratch: scratch, body)
    }

    private func field(named key: UnsafeBufferPointer<UInt8>, from expected: Int) -> Int? {
        if expected < names.count, names[expected].elementsEqual(key) { return expected }
        if let index = names.indices.first(where: { names[$0].elementsEqual(key) }) { return index }
        // The dictionary path compares keys as strings, that is up to canonical equivalence, so a key
        // spelled differently from every name (a decomposed `é`, the Kelvin sign for `K`) may still
        // name a field. Only text beyond ASCII has another spelling.
        guard hasNonASCIIName || key.contains(where: { $0 >= 0x80 }) else { return nil }
        return nameStrings.firstIndex(of: String(decoding: key, as: UTF8.self))
    }
}
