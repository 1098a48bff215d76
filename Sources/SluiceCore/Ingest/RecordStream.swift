/// Turns a file's bytes, as they stream in, into records validated against the tenant's schema:
/// CSV (with or without a header), NDJSON, or a JSON array of objects.
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
    private let schema: AvroRecordSchema
    private let delimiter: UInt8

    init(definition: TenantDefinition, format: String) {
        schema = definition.schema
        validator = RecordValidator(schema: definition.schema)
        delimiter = definition.csv.delimiter
        switch format {
        case "csv": splitter = .csv(CSVParser(delimiter: definition.csv.delimiter, quote: definition.csv.quote))
        case "json": splitter = .array(JSONArraySplitter())
        default: splitter = .lines(NDJSONSplitter())
        }
        if !definition.csv.header { mapping = CSVHeaderMapping(positionalFor: definition.schema) }
    }

    mutating func feed(_ bytes: [UInt8], _ emit: (Record) throws -> Void) throws {
        var pending: [Piece] = []
        switch splitter {
        case .csv(var parser):
            parser.feed(bytes) { pending.append(.csv($0)) }
            splitter = .csv(parser)
        case .lines(var lines):
            lines.feed(bytes) { pending.append(.json($0.bytes, line: $0.line)) }
            splitter = .lines(lines)
        case .array(var array):
            try array.feed(bytes) { pending.append(.json($0.bytes, line: nil)) }
            splitter = .array(array)
        }
        for piece in pending { try handle(piece, emit) }
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
                            values: validator.validate(csvFields: record.fields, mapping: mapping)))
        case .json(let bytes, let line):
            number += 1
            let values: Result<[String?], RecordRejection>
            do {
                values = validator.validate(try JSONRecordDecoder.decode(bytes))
            } catch {
                values = .failure(error)
            }
            try emit(Record(number: number, line: line, raw: bytes, values: values))
        }
    }
}
