import Foundation

/// Turns a file's bytes, as they stream in, into records validated against the tenant's schema:
/// CSV (with or without a header), NDJSON, or a JSON array of objects. The tenant's wrangling steps
/// run before validation and its quality rules after.
struct RecordStream {
    /// One record: its number in the file, where it starts, its raw bytes, and its COPY-ready values
    /// in schema order (or why it was rejected).
    struct Record {
        let number: Int
        let line: Int?
        let raw: [UInt8]?
        let values: Result<[String?], RecordRejection>
    }

    private enum Splitter {
        case csv(CSVParser)
        case lines(NDJSONSplitter)
        case array(JSONArraySplitter)
    }

    private var splitter: Splitter
    private var number = 0
    /// CSV: schema field → column, from the header row (or positional without one).
    private var mapping: CSVHeaderMapping?
    private let validator: RecordValidator
    private let pipeline: RecordPipeline
    private let schema: AvroRecordSchema
    private let delimiter: UInt8
    /// "Now" for timeliness rules, fixed for the whole file.
    private let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)

    init(definition: TenantDefinition, format: String, pipeline: RecordPipeline) {
        schema = definition.schema
        validator = RecordValidator(schema: definition.schema)
        self.pipeline = pipeline
        delimiter = definition.csv.delimiter
        switch format {
        case "csv": splitter = .csv(CSVParser(delimiter: definition.csv.delimiter, quote: definition.csv.quote))
        case "json": splitter = .array(JSONArraySplitter())
        default: splitter = .lines(NDJSONSplitter())
        }
        if !definition.csv.header { mapping = CSVHeaderMapping(positionalFor: definition.schema) }
    }

    /// The longest record accepted: a longer one fails the file instead of growing memory without bound.
    static let maximumRecordBytes = 64 << 20

    mutating func feed(_ bytes: [UInt8], _ emit: (Record) throws -> Void) throws {
        var pending: [Piece] = []
        let held: Int
        switch splitter {
        case .csv(var parser):
            parser.feed(bytes) { pending.append(.csv($0)) }
            splitter = .csv(parser)
            held = parser.pending.bytes
        case .lines(var lines):
            lines.feed(bytes) { pending.append(.json($0.bytes, line: $0.line)) }
            splitter = .lines(lines)
            held = lines.pendingBytes
        case .array(var array):
            try array.feed(bytes) { pending.append(.json($0.bytes, line: nil)) }
            splitter = .array(array)
            held = array.pendingBytes
        }
        for piece in pending { try handle(piece, emit) }
        guard held <= Self.maximumRecordBytes else {
            throw ServiceError(.invalid, "record_too_large",
                               "record \(number + 1) is longer than \(Self.maximumRecordBytes >> 20) MiB (an unclosed quote or bracket?)")
        }
    }

    mutating func finish(_ emit: (Record) throws -> Void) throws {
        var pending: [Piece] = []
        switch splitter {
        case .csv(var parser):
            do {
                try parser.finish { pending.append(.csv($0)) }
            } catch {
                throw ServiceError(.invalid, "malformed_csv", "\(error)")
            }
        case .lines(var lines):
            lines.finish { pending.append(.json($0.bytes, line: $0.line)) }
        case .array(let array):
            try array.finish()
        }
        for piece in pending { try handle(piece, emit) }
    }

    private enum Piece {
        case csv(CSVParser.Record)
        case json([UInt8], line: Int?)
    }

    private mutating func handle(_ piece: Piece, _ emit: (Record) throws -> Void) throws {
        switch piece {
        case .csv(let record):
            guard let mapping else {
                mapping = try CSVHeaderMapping(headerFields: record.fields, schema: schema)
                return
            }
            number += 1
            try emit(Record(number: number, line: record.line, raw: Array(record.fields.joined(separator: [delimiter])),
                            values: csvValues(record.fields, mapping)))
        case .json(let bytes, let line):
            number += 1
            let values = Result { () throws(RecordRejection) in
                var members = try JSONRecordDecoder.decode(bytes)
                return try checked(&members)
            }
            try emit(Record(number: number, line: line, raw: bytes, values: values))
        }
    }

    private func csvValues(_ fields: [[UInt8]], _ mapping: CSVHeaderMapping) -> Result<[String?], RecordRejection> {
        guard case .bytes(let transforms) = pipeline.csvPath else {
            // Steps need whole records: build one keyed by column name.
            return Result { () throws(RecordRejection) in
                guard fields.count == mapping.columnCount else {
                    throw RecordRejection(field: nil, code: RecordRejection.Code.fieldCountMismatch,
                                          message: "the row has \(fields.count) fields, the header \(mapping.columnCount)")
                }
                var members: [String: RecordValue] = [:]
                for (column, cell) in fields.enumerated() {
                    guard let text = String(validating: cell, as: UTF8.self) else {
                        throw RecordRejection(field: mapping.columnNames[column], code: RecordRejection.Code.invalidUTF8,
                                              message: "the text is not valid UTF-8")
                    }
                    members[mapping.columnNames[column]] = .text(text)
                }
                return try checked(&members)
            }
        }
        let values = validator.validate(csvFields: fields, mapping: mapping, transforms: transforms)
        guard !pipeline.rules.isEmpty, case .success(let row) = values else { return values }
        return Result { () throws(RecordRejection) in
            try pipeline.check(row, nowMillis: nowMillis)
            return row
        }
    }

    /// Runs the steps, validation and quality rules on a decoded record.
    private func checked(_ members: inout [String: RecordValue]) throws(RecordRejection) -> [String?] {
        try pipeline.transform(&members)
        let row = try validator.validate(members).get()
        try pipeline.check(row, nowMillis: nowMillis)
        return row
    }
}
