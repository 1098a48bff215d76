import Foundation

/// Turns a file's bytes, as they stream in, into records validated against the tenant's schema:
/// CSV (with or without a header), NDJSON, or a JSON array of objects. The tenant's wrangling steps
/// run before validation and its quality rules after.
///
/// Records are handed out one at a time with their values in a ``ValidatedRow`` that is reused for
/// the next record, so the stream allocates nothing per record on its fast paths.
struct RecordStream {
    /// One record: its number in the file, where it starts, and why it was rejected (with its raw
    /// bytes), or `nil` if it was accepted and its values are in the row handed with it.
    struct Record {
        let number: Int
        let line: Int?
        let rejection: RecordRejection?
        let raw: [UInt8]?
    }

    typealias Emit = (Record, ValidatedRow) throws -> Void

    private enum Splitter {
        case csv(CSVParser)
        case lines(NDJSONSplitter)
        case array(JSONArraySplitter)
        /// While a splitter is in use (so its buffers stay uniquely referenced).
        case taken
    }

    private var splitter: Splitter
    private var number = 0
    /// CSV: schema field → column, from the header row (or positional without one).
    private var mapping: CSVHeaderMapping?
    private var row = ValidatedRow()
    private var json: JSONFieldDecoder
    private let validator: RecordValidator
    private let pipeline: RecordPipeline
    private let schema: AvroRecordSchema
    private let delimiter: UInt8
    /// "Now" for timeliness rules, fixed for the whole file.
    private let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)

    init(definition: TenantDefinition, format: String, pipeline: RecordPipeline) {
        schema = definition.schema
        validator = RecordValidator(schema: definition.schema)
        json = JSONFieldDecoder(schema: definition.schema)
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

    mutating func feed(_ bytes: [UInt8], _ emit: Emit) throws {
        let held: Int
        switch splitter {
        case .csv(var parser):
            splitter = .taken
            defer { splitter = .csv(parser) }
            try parser.feed(bytes) { try handleCSV($0, emit) }
            held = parser.pending.bytes
        case .lines(var lines):
            splitter = .taken
            defer { splitter = .lines(lines) }
            try lines.feedLines(bytes) { try handleJSON($0, line: $1, emit) }
            held = lines.pendingBytes
        case .array(var array):
            splitter = .taken
            defer { splitter = .array(array) }
            try array.feed(bytes) { element in try element.bytes.withUnsafeBufferPointer { try handleJSON($0, line: nil, emit) } }
            held = array.pendingBytes
        case .taken:
            preconditionFailure("RecordStream.feed re-entered")
        }
        guard held <= Self.maximumRecordBytes else {
            throw ServiceError(.invalid, "record_too_large",
                               "record \(number + 1) is longer than \(Self.maximumRecordBytes >> 20) MiB (an unclosed quote or bracket?)")
        }
    }

    mutating func finish(_ emit: Emit) throws {
        switch splitter {
        case .csv(var parser):
            splitter = .taken
            defer { splitter = .csv(parser) }
            do {
                try parser.finish { try handleCSV($0, emit) }
            } catch let error as CSVParser.UnterminatedQuote {
                throw ServiceError(.invalid, "malformed_csv", "\(error)")
            }
        case .lines(var lines):
            splitter = .taken
            defer { splitter = .lines(lines) }
            try lines.finishLines { try handleJSON($0, line: $1, emit) }
        case .array(let array):
            try array.finish()
        case .taken:
            preconditionFailure("RecordStream.finish re-entered")
        }
    }

    private mutating func handleCSV(_ record: CSVParser.Record, _ emit: Emit) throws {
        guard let mapping else {
            mapping = try CSVHeaderMapping(headerFields: record.fields, schema: schema)
            return
        }
        number += 1
        let rejection = validateCSV(record, mapping)
        try emit(Record(number: number, line: record.line, rejection: rejection,
                        raw: rejection == nil ? nil : record.joined(separator: delimiter)), row)
    }

    private mutating func handleJSON(_ bytes: UnsafeBufferPointer<UInt8>, line: Int?, _ emit: Emit) throws {
        number += 1
        let rejection = validateJSON(bytes)
        try emit(Record(number: number, line: line, rejection: rejection, raw: rejection == nil ? nil : Array(bytes)), row)
    }

    /// Validates a JSON record into `row`, returning why it was rejected.
    private mutating func validateJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> RecordRejection? {
        do throws(RecordRejection) {
            guard case .bytes(let transforms) = pipeline.path else {
                var members = try JSONRecordDecoder.decode(Array(bytes))
                try check(&members)
                return nil
            }
            try json.decode(bytes)
            try validator.validate(json: json, of: bytes, transforms: transforms, into: &row)
            try pipeline.check(row, nowMillis: nowMillis)
            return nil
        } catch {
            return error
        }
    }

    /// Validates a CSV row into `row`, returning why it was rejected.
    private mutating func validateCSV(_ record: CSVParser.Record, _ mapping: CSVHeaderMapping) -> RecordRejection? {
        do throws(RecordRejection) {
            guard case .bytes(let transforms) = pipeline.path else {
                // Steps need whole records: build one keyed by column name.
                guard record.count == mapping.columnCount else {
                    throw RecordRejection(field: nil, code: RecordRejection.Code.fieldCountMismatch,
                                          message: "the row has \(record.count) fields, the header \(mapping.columnCount)")
                }
                var members: [String: RecordValue] = [:]
                for (column, cell) in record.fields.enumerated() {
                    guard let text = String(validating: cell, as: UTF8.self) else {
                        throw RecordRejection(field: mapping.columnNames[column], code: RecordRejection.Code.invalidUTF8,
                                              message: "the text is not valid UTF-8")
                    }
                    members[mapping.columnNames[column]] = .text(text)
                }
                try check(&members)
                return nil
            }
            try validator.validate(csv: record, mapping: mapping, transforms: transforms, into: &row)
            try pipeline.check(row, nowMillis: nowMillis)
            return nil
        } catch {
            return error
        }
    }

    /// Runs the steps, validation and quality rules on a decoded record, into `row`.
    private mutating func check(_ members: inout [String: RecordValue]) throws(RecordRejection) {
        try pipeline.transform(&members)
        try validator.validate(members, into: &row)
        try pipeline.check(row, nowMillis: nowMillis)
    }
}
