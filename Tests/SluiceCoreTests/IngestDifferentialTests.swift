@testable import SluiceCore
import SluiceStore
import Testing

/// Differential and property tests of the ingest hot path: the CSV parser and the NDJSON splitter
/// against ports of their per-byte predecessors (7b2d1c7) for random inputs and random chunkings,
/// the JSON byte path against the dictionary path, the UTF-8 checks against the standard library,
/// and COPY text encoding against a reference. Every input comes from a fixed seed.
@Suite struct IngestDifferentialTests {
    // MARK: CSV

    /// For random inputs, delimiters and quotes, fed in random chunks (empty ones included, through
    /// contiguous and non-contiguous collections), the parser emits the same records at the same
    /// feed calls, with the same `pending` after each call and the same end, as the old parser.
    @Test func csvParserMatchesThePerByteParserForEveryChunking() {
        var random = SplitMix64(seed: 0x5EED_C5F0)
        var checked = 0
        var failures = 0
        var records = 0
        var unterminated = 0
        for _ in 0..<1500 {
            let (delimiter, quote) = Self.csvDialects[Int.random(in: 0..<Self.csvDialects.count, using: &random)]
            let input = Self.randomCSV(&random, delimiter: delimiter, quote: quote)
            for chunking in 0..<3 {
                let cuts = Self.cuts(for: input.count, style: chunking, &random)
                let contiguous = Bool.random(using: &random)
                let actual = Self.runCSV(input, cuts: cuts, delimiter: delimiter, quote: quote, contiguous: contiguous)
                // The one deliberate difference: a file that is only the start of a byte-order mark
                // keeps those bytes as data (the old parser dropped them; NDJSON always kept them).
                let keepsPartialBOM = input == [0xEF] || input == [0xEF, 0xBB]
                let expected = Self.runOracleCSV(input, cuts: cuts, delimiter: delimiter, quote: quote, keepsPartialBOM: keepsPartialBOM)
                checked += 1
                for event in actual {
                    switch event {
                    case .record: records += 1
                    case .unterminatedQuote: unterminated += 1
                    default: break
                    }
                }
                if actual != expected {
                    failures += 1
                    if failures <= 3 {
                        Issue.record("CSV \(input) cuts \(cuts) delimiter \(delimiter) quote \(quote):\n new \(actual)\n old \(expected)")
                    }
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(checked) CSV runs differ")
        // The inputs must end both ways often: with records, and inside a quote.
        #expect(records > checked && unterminated > checked / 10 && unterminated < checked * 9 / 10, "\(records) records, \(unterminated) unterminated")
    }

    /// The old parser dropped a lone partial byte-order mark at the end of the input; the new one
    /// keeps it as data, as the NDJSON splitter always did.
    @Test func csvKeepsAPartialByteOrderMarkAtTheEnd() throws {
        for input: [UInt8] in [[0xEF], [0xEF, 0xBB]] {
            for chunk in [1, 2] {
                var parser = CSVParser()
                var records: [CSVParser.Record] = []
                for start in stride(from: 0, to: input.count, by: chunk) {
                    parser.feed(input[start..<min(input.count, start + chunk)]) { records.append($0) }
                }
                try parser.finish { records.append($0) }
                #expect(records == [CSVParser.Record(fields: [input], line: 1)])
            }
        }
    }

    private enum CSVEvent: Equatable, CustomStringConvertible {
        case record(call: Int, fields: [[UInt8]], line: Int)
        case pending(call: Int, bytes: Int, line: Int)
        case unterminatedQuote(line: Int)
        case inconsistentRecord(String)

        var description: String {
            switch self {
            case .record(let call, let fields, let line): "record@\(call)(\(fields), line \(line))"
            case .pending(let call, let bytes, let line): "pending@\(call)(\(bytes), line \(line))"
            case .unterminatedQuote(let line): "unterminated(\(line))"
            case .inconsistentRecord(let what): "inconsistent(\(what))"
            }
        }
    }

    private static let csvDialects: [(UInt8, UInt8)] = [
        (UInt8(ascii: ","), UInt8(ascii: "\"")), (UInt8(ascii: ","), UInt8(ascii: "\"")), (UInt8(ascii: ";"), UInt8(ascii: "\"")),
        (UInt8(ascii: "\t"), UInt8(ascii: "'")), (UInt8(ascii: "|"), UInt8(ascii: "\"")),
    ]

    private static func runCSV(_ input: [UInt8], cuts: [Int], delimiter: UInt8, quote: UInt8, contiguous: Bool) -> [CSVEvent] {
        var parser = CSVParser(delimiter: delimiter, quote: quote)
        var events: [CSVEvent] = []
        func record(_ record: CSVParser.Record, call: Int) {
            let fields = record.fields
            // The record's views of its fields agree with each other.
            let viewed = record.withFields { fields in (0..<fields.count).map { Array(fields[$0]) } }
            if viewed != fields || record.count != fields.count
                || record.joined(separator: delimiter) != Array(fields.joined(separator: [delimiter]))
                || CSVParser.Record(fields: fields, line: record.line) != record {
                events.append(.inconsistentRecord("\(fields)"))
            }
            events.append(.record(call: call, fields: fields, line: record.line))
        }
        var start = 0
        for (call, end) in (cuts + [input.count]).enumerated() {
            let chunk = input[start..<end]
            if contiguous {
                parser.feed(chunk) { record($0, call: call) }
            } else {
                parser.feed(chunk.lazy.map { $0 }) { record($0, call: call) }
            }
            events.append(.pending(call: call, bytes: parser.pending.bytes, line: parser.pending.line))
            start = end
        }
        do {
            try parser.finish { record($0, call: -1) }
        } catch let error as CSVParser.UnterminatedQuote {
            events.append(.unterminatedQuote(line: error.line))
        } catch {
            events.append(.inconsistentRecord("unexpected \(error)"))
        }
        return events
    }

    private static func runOracleCSV(_ input: [UInt8], cuts: [Int], delimiter: UInt8, quote: UInt8, keepsPartialBOM: Bool) -> [CSVEvent] {
        var parser = OracleCSVParser(delimiter: delimiter, quote: quote)
        parser.keepsPartialBOMAtEnd = keepsPartialBOM
        var events: [CSVEvent] = []
        var start = 0
        for (call, end) in (cuts + [input.count]).enumerated() {
            parser.feed(input[start..<end]) { events.append(.record(call: call, fields: $0.fields, line: $0.line)) }
            events.append(.pending(call: call, bytes: parser.pending.bytes, line: parser.pending.line))
            start = end
        }
        if let line = parser.finish({ events.append(.record(call: -1, fields: $0.fields, line: $0.line)) }) {
            events.append(.unterminatedQuote(line: line))
        }
        return events
    }

    private static func randomCSV(_ random: inout SplitMix64, delimiter: UInt8, quote: UInt8) -> [UInt8] {
        var bytes: [UInt8] = Self.randomBOMStart(&random)
        let length = Int.random(in: 0...40, using: &random)
        while bytes.count < length {
            switch Int.random(in: 0..<22, using: &random) {
            case 0...3: bytes.append(UInt8(ascii: "a") + UInt8.random(in: 0..<3, using: &random))
            case 4, 5: bytes.append(delimiter)
            case 6, 7: bytes.append(quote)
            case 8: bytes.append(UInt8(ascii: "\r"))
            case 9: bytes.append(UInt8(ascii: "\n"))
            case 10: bytes += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
            case 11: bytes.append([0xEF, 0xBB, 0xBF][Int.random(in: 0..<3, using: &random)])
            case 12: bytes.append(0)
            case 13: bytes.append([0xFF, 0x80, 0xC3][Int.random(in: 0..<3, using: &random)])
            case 14: bytes += [0xC3, 0xA9]
            case 15: bytes += Self.longField(&random)
            case 16: bytes += [quote] + Self.longField(&random) + [quote, quote, delimiter, quote]
            case 17: bytes.append(UInt8(ascii: " "))
            case 18: bytes += [quote, quote]
            case 19: bytes.append([UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ","), UInt8(ascii: ";")][Int.random(in: 0..<4, using: &random)])
            default: bytes.append(UInt8.random(in: 0...255, using: &random))
            }
        }
        return bytes
    }

    // MARK: NDJSON

    /// For random inputs fed in random chunks, the splitter emits the same lines, numbers and
    /// pending byte counts at the same calls as the old splitter.
    @Test func ndjsonSplitterMatchesThePerByteSplitterForEveryChunking() {
        var random = SplitMix64(seed: 0x5EED_1D15)
        var checked = 0
        var failures = 0
        for _ in 0..<1500 {
            var input = Self.randomBOMStart(&random)
            let length = Int.random(in: 0...40, using: &random)
            while input.count < length {
                switch Int.random(in: 0..<14, using: &random) {
                case 0...3: input += Array(#"{"a":1}"#.utf8).prefix(Int.random(in: 1...7, using: &random))
                case 4: input.append(UInt8(ascii: "\n"))
                case 5: input.append(UInt8(ascii: "\r"))
                case 6: input += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
                case 7: input.append([UInt8(ascii: " "), UInt8(ascii: "\t"), 0x0B, 0x0C][Int.random(in: 0..<4, using: &random)])
                case 8: input.append([0xEF, 0xBB, 0xBF][Int.random(in: 0..<3, using: &random)])
                case 9: input.append(0)
                case 10: input += Self.longField(&random)
                case 11: input += [0xC3, 0xA9]
                default: input.append(UInt8.random(in: 0...255, using: &random))
                }
            }
            for chunking in 0..<3 {
                let cuts = Self.cuts(for: input.count, style: chunking, &random)
                let contiguous = Bool.random(using: &random)
                var splitter = NDJSONSplitter()
                var oracle = OracleNDJSONSplitter()
                var actual: [String] = []
                var expected: [String] = []
                var start = 0
                for (call, end) in (cuts + [input.count]).enumerated() {
                    let chunk = input[start..<end]
                    if contiguous {
                        splitter.feed(chunk) { actual.append("\(call): \($0.line) \($0.bytes)") }
                    } else {
                        splitter.feed(chunk.lazy.map { $0 }) { actual.append("\(call): \($0.line) \($0.bytes)") }
                    }
                    oracle.feed(chunk) { expected.append("\(call): \($0.line) \($0.bytes)") }
                    actual.append("pending \(splitter.pendingBytes)")
                    expected.append("pending \(oracle.pendingBytes)")
                    start = end
                }
                splitter.finish { actual.append("end: \($0.line) \($0.bytes)") }
                oracle.finish { expected.append("end: \($0.line) \($0.bytes)") }
                checked += 1
                if actual != expected {
                    failures += 1
                    if failures <= 3 { Issue.record("NDJSON \(input) cuts \(cuts):\n new \(actual)\n old \(expected)") }
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(checked) NDJSON runs differ")
    }

    // MARK: JSON arrays

    /// For random arrays (nested values, strings with escaped quotes and brackets, scalars, broken
    /// syntax) fed in random chunks, the splitter emits the same elements at the same calls, and
    /// fails at the same byte with the same message, as the old per-byte splitter.
    @Test func jsonArraySplitterMatchesThePerByteSplitterForEveryChunking() {
        var random = SplitMix64(seed: 0x5EED_A22A)
        let pieces = [#"{"a":"x\"]}"}"#, #"[1,[2,{"b":null}]]"#, "42", #""s\\""#, "{}", "[]", ",", " ", "\n", "[", "]", "{", "}",
                      #"""#, "\\", "true", #"{"k":[{"z":"]"}]}"#]
        var failures = 0
        var checked = 0
        for _ in 0..<1500 {
            var input: [UInt8] = Bool.random(using: &random) ? [0xEF, 0xBB, 0xBF] : []
            if Int.random(in: 0..<8, using: &random) > 0 { input += Array("[".utf8) }
            for _ in 0..<Int.random(in: 0...12, using: &random) {
                input += Array(pieces[Int.random(in: 0..<pieces.count, using: &random)].utf8)
                if Int.random(in: 0..<3, using: &random) > 0 { input += Array(",".utf8) }
            }
            if Int.random(in: 0..<6, using: &random) > 0 { input += Array("]".utf8) }
            if Int.random(in: 0..<10, using: &random) == 0 { input += [UInt8.random(in: 0...255, using: &random)] }
            for chunking in 0..<3 {
                let cuts = Self.cuts(for: input.count, style: chunking, &random)
                var splitter = JSONArraySplitter()
                var oracle = OracleJSONArraySplitter()
                var actual: [String] = []
                var expected: [String] = []
                var start = 0
                for (call, end) in (cuts + [input.count]).enumerated() {
                    let chunk = input[start..<end]
                    start = end
                    do {
                        try splitter.feed(chunk) { actual.append("\(call): \($0.index) \($0.bytes)") }
                    } catch {
                        actual.append("error \((error as? ServiceError)?.message ?? "\(error)")")
                    }
                    do {
                        try oracle.feed(chunk) { expected.append("\(call): \($0.index) \($0.bytes)") }
                    } catch {
                        expected.append("error \((error as? OracleArrayError)?.message ?? "\(error)")")
                    }
                    if actual.last?.hasPrefix("error") == true || expected.last?.hasPrefix("error") == true { break }
                    actual.append("pending \(splitter.pendingBytes)")
                    expected.append("pending \(oracle.pendingBytes)")
                }
                if actual.last?.hasPrefix("error") != true, expected.last?.hasPrefix("error") != true {
                    do { try splitter.finish(); actual.append("finished") } catch { actual.append("end \((error as? ServiceError)?.message ?? "")") }
                    do { try oracle.finish(); expected.append("finished") } catch { expected.append("end \((error as? OracleArrayError)?.message ?? "")") }
                }
                checked += 1
                if actual != expected {
                    failures += 1
                    if failures <= 3 { Issue.record("array \(String(decoding: input, as: UTF8.self)) cuts \(cuts):\n new \(actual)\n old \(expected)") }
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(checked) JSON array runs differ")
    }

    // MARK: JSON records

    /// For random schemas and random (valid and malformed) JSON records, validating straight from the
    /// bytes gives exactly what decoding into a dictionary and validating gives: the same values,
    /// or the same rejection (code, field and message). The internal byte path with trim and case
    /// transforms, with one decoder and row reused from record to record as the stream does, is
    /// checked against the dictionary path with the equivalent steps, and accepted rows encode to
    /// the COPY text of their values.
    @Test func jsonBytePathMatchesTheDictionaryPath() {
        var random = SplitMix64(seed: 0x5EED_0150)
        var checked = 0
        var accepted = 0
        var codes: [String: Int] = [:]
        var failures = 0
        func fail(_ message: String) {
            failures += 1
            if failures <= 5 { Issue.record("\(message)") }
        }
        for _ in 0..<250 {
            let schema = Self.randomSchema(&random)
            let validator = RecordValidator(schema: schema)
            var transforms: [RecordPipeline.CellTransform?] = []
            var trim: [String] = [], upper: [String] = [], lower: [String] = []
            for field in schema.fields {
                guard Int.random(in: 0..<3, using: &random) == 0 else {
                    transforms.append(nil)
                    continue
                }
                var transform = RecordPipeline.CellTransform()
                transform.trim = Bool.random(using: &random)
                transform.uppercase = [true, false, nil][Int.random(in: 0..<3, using: &random)]
                if transform.trim { trim.append(field.name) }
                if transform.uppercase == true { upper.append(field.name) }
                if transform.uppercase == false { lower.append(field.name) }
                transforms.append(transform)
            }
            // Trim first, then the case: the order the byte path applies them in.
            let steps: [WranglingStep] = [.trim(trim), .upper(upper), .lower(lower)]
            var decoder = JSONFieldDecoder(schema: schema)
            var row = ValidatedRow()
            var dictionaryRow = ValidatedRow()
            for _ in 0..<20 {
                let record = Self.randomJSONRecord(&random, schema: schema)
                checked += 1
                // The public API.
                let bytePath = validator.validate(json: record)
                let dictionaryPath: Result<[String?], RecordRejection>
                do {
                    dictionaryPath = validator.validate(try JSONRecordDecoder.decode(record))
                } catch {
                    dictionaryPath = .failure(error)
                }
                if bytePath != dictionaryPath {
                    fail("\(Self.show(record)) with \(Self.show(schema)):\n bytes \(bytePath)\n dictionary \(dictionaryPath)")
                    continue
                }
                switch bytePath {
                case .success: accepted += 1
                case .failure(let rejection): codes[rejection.code, default: 0] += 1
                }
                // The stream's path, with transforms and reused buffers.
                let transformed = Result { () throws(RecordRejection) -> [String?] in
                    try record.withUnsafeBufferPointer { (bytes) throws(RecordRejection) in
                        try decoder.decode(bytes)
                        try validator.validate(json: decoder, of: bytes, transforms: transforms, into: &row)
                    }
                    return row.strings
                }
                let stepped = Result { () throws(RecordRejection) -> [String?] in
                    var members = try JSONRecordDecoder.decode(record)
                    for step in steps { try step.apply(to: &members) }
                    try validator.validate(members, into: &dictionaryRow)
                    return dictionaryRow.strings
                }
                if transformed != stepped {
                    fail("\(Self.show(record)) with \(Self.show(schema)) and \(transforms):\n bytes \(transformed)\n dictionary \(stepped)")
                    continue
                }
                if case .success(let values) = transformed {
                    var rows = CopyTextRows(capacity: 0)
                    row.encode(into: &rows)
                    rows.endRow()
                    if rows.bytes != Self.referenceCopyText([values]) {
                        fail("\(Self.show(record)): COPY text \(rows.bytes) for \(values)")
                    }
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(checked) JSON records differ")
        // The generator must reach acceptance and most rejections often enough to mean something.
        #expect(accepted > checked / 10 && accepted < checked * 9 / 10, "\(accepted) of \(checked) accepted")
        // NUL (invalid_text) is a rare case of bad text: counted with invalid UTF-8 here.
        var reached = codes
        reached["invalid_utf8", default: 0] += reached.removeValue(forKey: "invalid_text") ?? 0
        #expect(reached.count >= 9 && reached.values.allSatisfy { $0 >= 10 }, "\(codes)")
    }

    /// Keys are matched as the dictionary path matches them: as strings, so a key that is
    /// canonically equivalent to a field name (decomposed `é`, the Kelvin sign for `K`) names that
    /// field on both paths.
    @Test func jsonKeysCanonicallyEquivalentToAFieldNameMatchOnBothPaths() throws {
        let schema = AvroRecordSchema(name: "t", fields: [
            AvroField(name: "caf\u{E9}", type: .int), AvroField(name: "K", type: .string, nullable: true),
        ])
        let validator = RecordValidator(schema: schema)
        for record in [
            "{\"cafe\u{301}\": 1, \"\u{212A}\": \"x\"}", #"{"cafe\u0301": 1, "\u212a": "x"}"#,
            "{\"caf\u{E9}\": 1, \"K\": \"x\"}", "{\"caf\u{E9}\": 2, \"cafe\u{301}\": 1, \"K\": \"y\", \"\u{212A}\": \"x\"}",
        ] {
            let bytes = Array(record.utf8)
            #expect(validator.validate(try JSONRecordDecoder.decode(bytes)) == .success(["1", "x"]), "\(record)")
            #expect(validator.validate(json: bytes) == .success(["1", "x"]), "\(record)")
        }
    }

    // MARK: Text checks and COPY text

    /// `checkText` accepts exactly valid UTF-8 without NUL and `isValidUTF8` exactly valid UTF-8,
    /// for random byte strings of 0–40 bytes at every alignment.
    @Test func textChecksAgreeWithTheStandardLibrary() {
        var random = SplitMix64(seed: 0x5EED_7E47)
        var failures = 0
        for iteration in 0..<8_000 {
            let count = Int.random(in: 0...40, using: &random)
            var bytes: [UInt8] = []
            while bytes.count < count {
                switch Int.random(in: 0..<16, using: &random) {
                case 0...6: bytes.append(UInt8.random(in: 0x20..<0x7F, using: &random))
                case 7: bytes.append(0)
                case 8: bytes.append(UInt8.random(in: 0x80...0xFF, using: &random))
                case 9: bytes += [0xC3, 0xA9]
                case 10: bytes += [0xE2, 0x82, 0xAC]
                case 11: bytes += [0xF0, 0x9F, 0x98, 0x80]
                case 12: bytes += [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98]][Int.random(in: 0..<5, using: &random)]
                case 13: bytes.append(UInt8.random(in: 0x01..<0x20, using: &random))
                default: bytes.append(UInt8.random(in: 0...255, using: &random))
                }
            }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            let storable = valid && !bytes.contains(0)
            let offset = iteration % 8
            let padded = [UInt8](repeating: 0x80, count: offset) + bytes + [0x80, 0]
            padded.withUnsafeBufferPointer { buffer in
                let text = UnsafeBufferPointer(rebasing: buffer[offset..<offset + bytes.count])
                let accepted: Bool
                do throws(FieldText.Failure) {
                    try FieldText.checkText(text)
                    accepted = true
                } catch {
                    accepted = false
                    if error.code != (valid ? RecordRejection.Code.invalidText : RecordRejection.Code.invalidUTF8) { failures += 1 }
                }
                if accepted != storable || FieldText.isValidUTF8(text) != valid {
                    failures += 1
                    if failures <= 3 { Issue.record("\(bytes): checkText \(accepted), isValidUTF8 \(FieldText.isValidUTF8(text))") }
                }
            }
        }
        #expect(failures == 0)
    }

    /// Rows built field by field are the reference COPY text, and that text reads back as the rows.
    @Test func copyTextRowsEscapeAndReadBack() {
        var random = SplitMix64(seed: 0x5EED_C0B1)
        let pieces = ["a", "\\", "\t", "\n", "\r", "\\N", "N", "\r\n", "é", " ", "\u{8}", "\u{B}", "."]
        var rows = CopyTextRows(capacity: 0)
        var values: [[String?]] = []
        var failures = 0
        for _ in 0..<2000 {
            let row: [String?] = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                guard Int.random(in: 0..<5, using: &random) > 0 else { return nil }
                return (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &random)] }.joined()
            }
            for field in row { rows.append(field) }
            rows.endRow()
            values.append(row)
            if Int.random(in: 0..<8, using: &random) == 0 {
                if rows.bytes != Self.referenceCopyText(values) || Self.readCopyText(rows.bytes) != values { failures += 1 }
                rows.removeAll()
                values.removeAll()
            }
        }
        #expect(failures == 0)
    }

    // MARK: The record stream

    /// Random NDJSON and CSV files through ``RecordStream`` in random chunks: every record is
    /// numbered and placed as the old splitters place it, accepted exactly when validation accepts
    /// it (its row then holds the validated values), and a rejected one carries its raw bytes.
    @Test func recordStreamMatchesTheOldSplittersAndTheValidator() throws {
        var random = SplitMix64(seed: 0x5EED_57EA)
        let schema = AvroRecordSchema(name: "t", fields: [
            AvroField(name: "id", type: .int), AvroField(name: "name", type: .string, nullable: true),
            AvroField(name: "score", type: .double, nullable: true, defaultValue: .number(1.5)),
        ])
        let validator = RecordValidator(schema: schema)
        var failures = 0
        for iteration in 0..<300 {
            let csv = iteration % 2 == 0
            let (delimiter, quote) = csv ? Self.csvDialects[Int.random(in: 0..<Self.csvDialects.count, using: &random)] : (0x2C, 0x22)
            let definition = TenantDefinition(id: "t", displayName: "t", fileTypes: [FileType(csv ? .csv : .ndjson)],
                                              csv: CSVOptions(header: false, delimiter: delimiter, quote: quote),
                                              schema: schema, primaryKey: [])
            var input = Self.randomBOMStart(&random)
            for _ in 0..<Int.random(in: 0...8, using: &random) {
                if csv {
                    let cells = (0..<Int.random(in: 1...4, using: &random)).map { _ in Self.randomCSV(&random, delimiter: delimiter, quote: quote).prefix(6) }
                    input += Array(cells.joined(separator: [delimiter]))
                } else {
                    input += Self.randomJSONRecord(&random, schema: schema)
                }
                input += [[0x0A], [0x0D, 0x0A], [0x0A, 0x0A]][Int.random(in: 0..<3, using: &random)]
            }
            // What the old splitters and the validator make of the file.
            var expected: [String] = []
            var number = 0
            func expectRecord(line: Int, raw: [UInt8], _ result: Result<[String?], RecordRejection>) {
                number += 1
                switch result {
                case .success(let values): expected.append("\(number) line \(line): \(values)")
                case .failure(let rejection): expected.append("\(number) line \(line): \(rejection) raw \(raw)")
                }
            }
            if csv {
                var oracle = OracleCSVParser(delimiter: delimiter, quote: quote)
                oracle.keepsPartialBOMAtEnd = true
                let mapping = CSVHeaderMapping(positionalFor: schema)
                func emit(_ record: OracleCSVParser.Record) {
                    expectRecord(line: record.line, raw: Array(record.fields.joined(separator: [delimiter])),
                                 validator.validate(csvFields: record.fields, mapping: mapping))
                }
                oracle.feed(input, emit)
                if oracle.finish(emit) != nil { expected.append("malformed_csv") }
            } else {
                var oracle = OracleNDJSONSplitter()
                func emit(_ line: RawRecord) {
                    let result: Result<[String?], RecordRejection>
                    do throws(RecordRejection) {
                        result = validator.validate(try JSONRecordDecoder.decode(line.bytes))
                    } catch {
                        result = .failure(error)
                    }
                    expectRecord(line: line.line, raw: line.bytes, result)
                }
                oracle.feed(input, emit)
                oracle.finish(emit)
            }
            // What the stream makes of it.
            var stream = RecordStream(definition: definition, format: csv ? "csv" : "ndjson", pipeline: .empty)
            var actual: [String] = []
            func take(_ record: RecordStream.Record, _ row: ValidatedRow) {
                let line = record.line ?? -1
                guard let rejection = record.rejection else {
                    actual.append("\(record.number) line \(line): \(row.strings)")
                    return
                }
                actual.append("\(record.number) line \(line): \(rejection) raw \(record.raw ?? [])")
            }
            var start = 0
            do {
                for end in Self.cuts(for: input.count, style: 2, &random) + [input.count] {
                    try stream.feed(Array(input[start..<end]), take)
                    start = end
                }
                try stream.finish(take)
            } catch let error as ServiceError {
                actual.append(error.code == "malformed_csv" ? "malformed_csv" : "\(error)")
            }
            if actual != expected {
                failures += 1
                if failures <= 3 { Issue.record("\(Self.show(input)):\n stream \(actual)\n expected \(expected)") }
            }
        }
        #expect(failures == 0)
    }

    // MARK: Generators

    /// Split points for `count` bytes: none, one byte per call, or random (with empty chunks).
    private static func cuts(for count: Int, style: Int, _ random: inout SplitMix64) -> [Int] {
        switch style {
        case 0: return []
        case 1: return count > 1 ? Array(1..<count) : []
        default: return (0..<Int.random(in: 0...5, using: &random)).map { _ in Int.random(in: 0...count, using: &random) }.sorted()
        }
    }

    private static func randomBOMStart(_ random: inout SplitMix64) -> [UInt8] {
        [[0xEF, 0xBB, 0xBF], [0xEF], [0xEF, 0xBB], [0xEF, 0xBB, 0xBF, 0xEF], [0xEF, 0xEF, 0xBB, 0xBF], [], [], [], [], []][Int.random(in: 0..<10, using: &random)]
    }

    /// 9–20 ASCII letters with, usually, one non-ASCII, NUL or invalid byte somewhere in them.
    private static func longField(_ random: inout SplitMix64) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: Int.random(in: 9...20, using: &random))
        let odd: [[UInt8]] = [[0xC3, 0xA9], [0xFF], [0x00], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xC3], []]
        bytes.insert(contentsOf: odd[Int.random(in: 0..<odd.count, using: &random)], at: Int.random(in: 0...bytes.count, using: &random))
        return bytes
    }

    private static let fieldNames = ["id", "name", "a", "K", "caf\u{E9}", "q\"\\", "tab\t"]

    private static func randomSchema(_ random: inout SplitMix64) -> AvroRecordSchema {
        var names = fieldNames
        names.shuffle(using: &random)
        let defaults: [JSONValue?] = [nil, nil, nil, .null, .string("x"), .string(""), .number(5), .bool(true), .string("2024-01-01"), .array([])]
        let fields = names.prefix(Int.random(in: 1...4, using: &random)).map { name in
            AvroField(name: name, type: AvroType.allCases[Int.random(in: 0..<AvroType.allCases.count, using: &random)],
                      nullable: Int.random(in: 0..<3, using: &random) == 0,
                      defaultValue: defaults[Int.random(in: 0..<defaults.count, using: &random)])
        }
        return AvroRecordSchema(name: "t", fields: fields)
    }

    /// A JSON string literal of `text`: plain (escaping only what must be), every character as a
    /// `\u` escape, or only the first one.
    private static func jsonString(_ text: String, _ random: inout SplitMix64) -> [UInt8] {
        let style = Int.random(in: 0..<4, using: &random)
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        for (index, scalar) in text.unicodeScalars.enumerated() {
            guard style == 1 || (style == 2 && index == 0) || scalar.value < 0x20 || scalar == "\"" || scalar == "\\" else {
                bytes += Array(String(scalar).utf8)
                continue
            }
            for unit in String(scalar).utf16 {
                let hex = String(unit, radix: 16)
                let escape = "\\u" + String(repeating: "0", count: 4 - hex.count) + (Bool.random(using: &random) ? hex : hex.uppercased())
                bytes += Array(escape.utf8)
            }
        }
        return bytes + [UInt8(ascii: "\"")]
    }

    private static func randomKey(_ random: inout SplitMix64, schema: AvroRecordSchema) -> [UInt8] {
        let name = schema.fields[Int.random(in: 0..<schema.fields.count, using: &random)].name
        switch Int.random(in: 0..<12, using: &random) {
        case 0...5: return jsonString(name, &random)
        case 6: return jsonString(["cafe\u{301}", "\u{212A}", "\u{212A}\u{301}", "e\u{301}"][Int.random(in: 0..<4, using: &random)], &random)
        case 7: return jsonString(name.uppercased(), &random)
        case 8: return jsonString(["zz", "", "id ", "na\u{0}me", "\u{1F600}"][Int.random(in: 0..<5, using: &random)], &random)
        case 9: return [UInt8(ascii: "\"")] + Array(name.utf8) + [[0xFF], [0xC3], [0xED, 0xA0, 0x80]][Int.random(in: 0..<3, using: &random)] + [UInt8(ascii: "\"")]
        case 10: return Array(#""\ud800x""#.utf8)
        default: return jsonString(fieldNames[Int.random(in: 0..<fieldNames.count, using: &random)], &random)
        }
    }

    private static let stringPieces: [[UInt8]] = [
        "abc", " ", "\\n", "\\t", "\\\\", "\\\"", "\\/", "\\b", "\\f", "\\r", "\\u00e9", "\\u00E9", "\\u0000", "\\ud83d\\ude00",
        "\\ud83d", "\\ude00", "\\ud83d\\u0041", "\\ud83d\\n", "\\uZZ12", "\\u12", "\\x", "\u{E9}", "2024-02-29", "2023-02-29",
        "2024-01-02T03:04:05Z", "2024-01-02 03:04:05.123+01:00", "1700000000000", "42", " -7 ", "1e3", "1.5", "true", "YES",
        "0x1F", "\\u212a", "Stra\u{DF}e", "\u{130}", "  \\t", "\u{1}", "\u{7F}",
    ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0x00]]

    private static let scalarValues: [String] = [
        "0", "-0", "42", "-17", "01", "1.5", "1.", ".5", "-", "1e400", "-1e-400", "1e-400", "2147483647", "2147483648",
        "-2147483648", "9223372036854775808", "1E+2", "1.5e", "123456789012345678", "3.4028235e38", "3.5e38", "0.000",
        "true", "false", "null", "tru", "nul", "fals", "truex", "+1", "NaN", "-Infinity",
        "[]", "{}", "[1,{\"a\":[true,null]}]", "[1,]", "{\"a\"}", "{\"a\":1,}", "[\"\\ud800\"]", "[\"\u{E9}\\n\"]", "{\"k\\\"\":[{}]}",
        "[", "{", "]", "[1 2]",
    ]

    private static func randomValue(_ random: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<20, using: &random) {
        case 0...8:
            var bytes: [UInt8] = [UInt8(ascii: "\"")]
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                bytes += Int.random(in: 0..<8, using: &random) == 0 ? longField(&random) : stringPieces[Int.random(in: 0..<stringPieces.count, using: &random)]
            }
            return bytes + [UInt8(ascii: "\"")]
        case 9:
            let depth = [2, 256, 257][Int.random(in: 0..<3, using: &random)]
            return [UInt8](repeating: UInt8(ascii: "["), count: depth) + [UInt8](repeating: UInt8(ascii: "]"), count: depth)
        default:
            return Array(scalarValues[Int.random(in: 0..<scalarValues.count, using: &random)].utf8)
        }
    }

    /// A value that is usually valid for `type`.
    private static func suitableValue(_ type: AvroType, _ random: inout SplitMix64) -> [UInt8] {
        let choices: [String]
        switch type {
        case .string: return randomValue(&random).first == UInt8(ascii: "\"") ? randomValue(&random) : Array(#""plain""#.utf8)
        case .int, .long: choices = ["42", "-7", "0", "\" 12 \"", "null", "2147483647"]
        case .float, .double: choices = ["1.5", "-0.25e3", "7", "\"2.5\"", "null"]
        case .boolean: choices = ["true", "false", "\"t\"", "\"No\"", "null"]
        case .date: choices = ["\"2024-02-29\"", "\" 2024-01-02 \"", "null"]
        case .timestampMillis: choices = ["\"2024-01-02T03:04:05Z\"", "1700000000000", "\"2024-01-02 03:04:05.123+01:00\"", "null"]
        }
        return Array(choices[Int.random(in: 0..<choices.count, using: &random)].utf8)
    }

    private static func whitespace(_ random: inout SplitMix64) -> [UInt8] {
        [[], [], [], [0x20], [0x09], [0x0A], [0x0D], [0x20, 0x20]][Int.random(in: 0..<8, using: &random)]
    }

    private static func randomJSONRecord(_ random: inout SplitMix64, schema: AvroRecordSchema) -> [UInt8] {
        // Usually each field with a value that suits it, under its own name; then odd members.
        var members: [(key: [UInt8], value: [UInt8])] = []
        for field in schema.fields where Int.random(in: 0..<8, using: &random) > 0 {
            let key = Int.random(in: 0..<6, using: &random) > 0 ? jsonString(field.name, &random) : randomKey(&random, schema: schema)
            let value = Int.random(in: 0..<5, using: &random) > 0 ? suitableValue(field.type, &random) : randomValue(&random)
            members.append((key, value))
        }
        for _ in 0..<[0, 0, 1, 2][Int.random(in: 0..<4, using: &random)] {
            members.append((randomKey(&random, schema: schema), randomValue(&random)))
        }
        members.shuffle(using: &random)
        var bytes = whitespace(&random) + [UInt8(ascii: "{")]
        for (index, member) in members.enumerated() {
            if index > 0 { bytes += whitespace(&random) + [UInt8(ascii: ",")] }
            bytes += whitespace(&random) + member.key + whitespace(&random) + [UInt8(ascii: ":")] + whitespace(&random) + member.value
        }
        bytes += whitespace(&random) + [UInt8(ascii: "}")] + whitespace(&random)
        switch Int.random(in: 0..<24, using: &random) {
        case 0: bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &random)...)
        case 1: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random))
        case 2: bytes.insert(Array(#"{}[],:" \0x"#.utf8)[Int.random(in: 0..<11, using: &random)], at: Int.random(in: 0...bytes.count, using: &random))
        case 3: bytes += Array(" x".utf8)
        case 4: bytes = Array("[".utf8) + bytes + Array("]".utf8)
        default: break
        }
        // NDJSON lines never hold a line feed, whitespace or not.
        return bytes.map { $0 == 0x0A ? 0x20 : $0 }
    }

    private static func show(_ bytes: [UInt8]) -> String {
        String(validating: bytes, as: UTF8.self).map { "\"\($0)\"" } ?? "\(bytes)"
    }

    private static func show(_ schema: AvroRecordSchema) -> String {
        schema.fields.map { "\($0.name): \($0.type)\($0.nullable ? "?" : "")\($0.defaultValue.map { " = \($0)" } ?? "")" }.joined(separator: ", ")
    }

    // MARK: COPY text reference

    private static func referenceCopyText(_ rows: [[String?]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for row in rows {
            for (index, field) in row.enumerated() {
                if index > 0 { bytes.append(0x09) }
                guard let field else {
                    bytes += Array("\\N".utf8)
                    continue
                }
                for byte in field.utf8 {
                    switch byte {
                    case 0x5C: bytes += [0x5C, 0x5C]
                    case 0x09: bytes += [0x5C, UInt8(ascii: "t")]
                    case 0x0A: bytes += [0x5C, UInt8(ascii: "n")]
                    case 0x0D: bytes += [0x5C, UInt8(ascii: "r")]
                    default: bytes.append(byte)
                    }
                }
            }
            bytes.append(0x0A)
        }
        return bytes
    }

    /// Reads COPY text as PostgreSQL does (for the escapes ``CopyTextRows`` writes).
    private static func readCopyText(_ bytes: [UInt8]) -> [[String?]] {
        var rows: [[String?]] = []
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            rows.append(line.split(separator: 0x09, omittingEmptySubsequences: false).map { field in
                if Array(field) == Array("\\N".utf8) { return nil }
                var text: [UInt8] = []
                var escaped = false
                for byte in field {
                    if escaped {
                        switch byte {
                        case UInt8(ascii: "t"): text.append(0x09)
                        case UInt8(ascii: "n"): text.append(0x0A)
                        case UInt8(ascii: "r"): text.append(0x0D)
                        default: text.append(byte)
                        }
                        escaped = false
                    } else if byte == 0x5C {
                        escaped = true
                    } else {
                        text.append(byte)
                    }
                }
                return String(decoding: text, as: UTF8.self)
            })
        }
        return rows
    }
}

// MARK: - Oracles: the per-byte parsers as of 7b2d1c7

/// The CSV parser before the rewrite (a per-byte state machine), kept as the oracle.
private struct OracleCSVParser {
    struct Record: Equatable {
        var fields: [[UInt8]]
        var line: Int
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }

    let delimiter: UInt8
    let quote: UInt8
    /// The new parser's one deliberate difference: a partial byte-order mark that is the whole
    /// input is data (the old parser dropped it).
    var keepsPartialBOMAtEnd = false
    private var state = State.fieldStart
    private var field: [UInt8] = []
    private var fields: [[UInt8]] = []
    private var line = 1
    private var recordLine = 1
    private var atStart = true
    private var bomProgress = 0

    init(delimiter: UInt8, quote: UInt8) {
        self.delimiter = delimiter
        self.quote = quote
    }

    var pending: (bytes: Int, line: Int) { (fields.reduce(field.count) { $0 + $1.count + 1 }, recordLine) }

    mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (Record) -> Void) {
        for byte in bytes {
            if atStart {
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                if byte == bom[bomProgress] {
                    bomProgress += 1
                    if bomProgress == 3 { atStart = false }
                    continue
                }
                atStart = false
                let partial = bom.prefix(bomProgress)
                bomProgress = 0
                for pending in partial { consume(pending, emit) }
            }
            consume(byte, emit)
        }
    }

    /// Ends the input; returns the line of a quote never closed.
    mutating func finish(_ emit: (Record) -> Void) -> Int? {
        if keepsPartialBOMAtEnd, atStart {
            atStart = false
            for byte in [UInt8]([0xEF, 0xBB, 0xBF]).prefix(bomProgress) { consume(byte, emit) }
        }
        switch state {
        case .quoted:
            return recordLine
        case .fieldStart where fields.isEmpty && field.isEmpty:
            return nil
        case .afterCR:
            return nil
        default:
            endRecord(emit)
            return nil
        }
    }

    private mutating func consume(_ byte: UInt8, _ emit: (Record) -> Void) {
        switch state {
        case .afterCR:
            state = .fieldStart
            if byte == UInt8(ascii: "\n") { return }
            consume(byte, emit)
        case .quoted:
            if byte == quote {
                state = .quoteInQuoted
            } else {
                if byte == UInt8(ascii: "\n") { line += 1 }
                field.append(byte)
            }
        case .quoteInQuoted:
            if byte == quote {
                field.append(quote)
                state = .quoted
            } else {
                state = .unquoted
                consume(byte, emit)
            }
        case .fieldStart, .unquoted:
            switch byte {
            case quote where state == .fieldStart:
                state = .quoted
            case delimiter:
                fields.append(field)
                field = []
                state = .fieldStart
            case UInt8(ascii: "\r"):
                endRecord(emit)
                state = .afterCR
                line += 1
            case UInt8(ascii: "\n"):
                endRecord(emit)
                line += 1
            default:
                field.append(byte)
                state = .unquoted
            }
        }
    }

    private mutating func endRecord(_ emit: (Record) -> Void) {
        fields.append(field)
        field = []
        let record = Record(fields: fields, line: recordLine)
        fields = []
        state = .fieldStart
        recordLine = line + 1
        if !(record.fields.count == 1 && record.fields[0].isEmpty) { emit(record) }
    }
}

/// The NDJSON splitter before the rewrite (per byte), kept as the oracle.
private struct OracleNDJSONSplitter {
    private var buffer: [UInt8] = []
    private var line = 1
    private var bomProgress = 0
    private var atStart = true
    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    var pendingBytes: Int { buffer.count }

    mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (RawRecord) -> Void) {
        for byte in bytes {
            if atStart {
                if byte == Self.bom[bomProgress] {
                    bomProgress += 1
                    if bomProgress == Self.bom.count { atStart = false }
                    continue
                }
                atStart = false
                buffer.append(contentsOf: Self.bom.prefix(bomProgress))
            }
            if byte == UInt8(ascii: "\n") {
                endLine(emit)
            } else {
                buffer.append(byte)
            }
        }
    }

    mutating func finish(_ emit: (RawRecord) -> Void) {
        if atStart { buffer.append(contentsOf: Self.bom.prefix(bomProgress)) }
        atStart = false
        endLine(emit)
    }

    private mutating func endLine(_ emit: (RawRecord) -> Void) {
        defer {
            buffer.removeAll(keepingCapacity: true)
            line += 1
        }
        if buffer.last == UInt8(ascii: "\r") { buffer.removeLast() }
        guard buffer.contains(where: { !JSONBytes.isWhitespace($0) }) else { return }
        emit(RawRecord(bytes: buffer, line: line))
    }
}

// MARK: - Oracle: the JSON array splitter of 7b2d1c7 (byte by byte)

private struct OracleArrayError: Error {
    let message: String
}

/// The JSON array splitter as it was before runs were copied at once.
private struct OracleJSONArraySplitter {
    private enum State {
        case beforeArray, afterOpen, afterComma, inElement, inString, inEscape, afterElement, done
    }

    private var state = State.beforeArray
    private var element: [UInt8] = []
    /// Open brackets of the current element, innermost last.
    private var open: [UInt8] = []
    private var index = 0
    private var offset = 0

    /// Bytes held for the element not yet complete.
    var pendingBytes: Int { element.count }

    init() {}

    /// Splits `bytes`, calling `emit` for every element they complete.
    mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (JSONArraySplitter.Element) throws -> Void) throws {
        for byte in bytes {
            try consume(byte, emit)
            offset += 1
        }
    }

    /// Ends the input, failing if the array is not closed.
    func finish() throws {
        guard state == .done else {
            throw malformed(state == .beforeArray ? "the file holds no JSON array" : "the JSON array is never closed")
        }
    }

    private mutating func consume(_ byte: UInt8, _ emit: (JSONArraySplitter.Element) throws -> Void) throws {
        switch state {
        case .inString:
            element.append(byte)
            if byte == UInt8(ascii: "\\") {
                state = .inEscape
            } else if byte == UInt8(ascii: "\"") {
                state = .inElement
                if open.isEmpty { try endElement(emit) }
            }
        case .inEscape:
            element.append(byte)
            state = .inString
        case .inElement:
            try consumeInElement(byte, emit)
        case .beforeArray:
            if offset < 3 && byte == [0xEF, 0xBB, 0xBF][offset] { return }
            if JSONBytes.isWhitespace(byte) { return }
            guard byte == UInt8(ascii: "[") else { throw malformed("the file does not start with '['") }
            state = .afterOpen
        case .afterOpen, .afterComma:
            if JSONBytes.isWhitespace(byte) { return }
            if byte == UInt8(ascii: "]") && state == .afterOpen {
                state = .done
                return
            }
            guard byte != UInt8(ascii: ","), byte != UInt8(ascii: "]") else { throw malformed("an array element is missing") }
            state = .inElement
            try consumeInElement(byte, emit)
        case .afterElement:
            if JSONBytes.isWhitespace(byte) { return }
            switch byte {
            case UInt8(ascii: ","): state = .afterComma
            case UInt8(ascii: "]"): state = .done
            default: throw malformed("expected ',' or ']' after an array element")
            }
        case .done:
            guard JSONBytes.isWhitespace(byte) else { throw malformed("unexpected data after the closing ']'") }
        }
    }

    private mutating func consumeInElement(_ byte: UInt8, _ emit: (JSONArraySplitter.Element) throws -> Void) throws {
        switch byte {
        case UInt8(ascii: "\""):
            element.append(byte)
            state = .inString
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            element.append(byte)
            open.append(byte)
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard let opener = open.popLast() else {
                // A closing bracket at depth 0 ends a scalar element and, if `]`, the array.
                guard byte == UInt8(ascii: "]"), !element.isEmpty else { throw malformed("unbalanced '\(Character(Unicode.Scalar(byte)))'") }
                try endElement(emit)
                state = .done
                return
            }
            guard opener == byte - 2 else { throw malformed("mismatched '\(Character(Unicode.Scalar(byte)))'") }
            element.append(byte)
            if open.isEmpty { try endElement(emit) }
        case UInt8(ascii: ",") where open.isEmpty:
            try endElement(emit)
            state = .afterComma
        default:
            if open.isEmpty && JSONBytes.isWhitespace(byte) {
                try endElement(emit)
            } else {
                element.append(byte)
            }
        }
    }

    private mutating func endElement(_ emit: (JSONArraySplitter.Element) throws -> Void) throws {
        index += 1
        state = .afterElement
        let bytes = element
        element.removeAll(keepingCapacity: true)
        try emit(JSONArraySplitter.Element(bytes: bytes, index: index))
    }

    private func malformed(_ message: String) -> OracleArrayError {
        OracleArrayError(message: "\(message) (at byte \(offset))")
    }
}
