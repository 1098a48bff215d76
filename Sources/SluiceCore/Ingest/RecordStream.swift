import Foundation

/// Turns a file's bytes, as they stream in, into records validated against the tenant's schema:
/// CSV (with or without a header), NDJSON, or a JSON array of objects.
struct RecordStream {
    struct Rejection: Error {
        let field: String?
        let code: String
        let message: String
    }

    /// One record: its number in the file, where it starts, its raw bytes, and its COPY-ready values
    /// in schema order (or why it was rejected).
    struct Record {
        let number: Int
        let line: Int?
        let raw: [UInt8]?
        let values: Result<[String?], Rejection>
    }

    private enum Splitter {
        case csv(CSVParser)
        case lines(JSONLineSplitter)
        case array(JSONArraySplitter)
    }

    private var splitter: Splitter
    private var number = 0
    /// CSV: schema field → column, set from the header (or positional without one).
    private var columns: [Int?]?
    private var headerWidth = 0
    private let converters: [FieldConverter]
    private let hasHeader: Bool
    private let delimiter: UInt8

    init(definition: TenantDefinition, format: String) throws {
        converters = definition.schema.fields.map(FieldConverter.init)
        hasHeader = definition.csv.header
        delimiter = definition.csv.delimiter
        switch format {
        case "csv": splitter = .csv(CSVParser(delimiter: definition.csv.delimiter, quote: definition.csv.quote))
        case "json": splitter = .array(JSONArraySplitter())
        default: splitter = .lines(JSONLineSplitter())
        }
        if !hasHeader {
            columns = converters.indices.map { $0 }
            headerWidth = converters.count
        }
    }

    mutating func feed(_ bytes: [UInt8], _ emit: (Record) throws -> Void) throws {
        var pending: [Piece] = []
        switch splitter {
        case .csv(var parser):
            parser.feed(bytes) { pending.append(.csv($0)) }
            splitter = .csv(parser)
        case .lines(var lines):
            lines.feed(bytes) { pending.append(.json($0, line: $1)) }
            splitter = .lines(lines)
        case .array(var array):
            try array.feed(bytes) { pending.append(.json($0, line: nil)) }
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
            lines.finish { pending.append(.json($0, line: $1)) }
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
            guard let columns else {
                mapHeader(record)
                return
            }
            number += 1
            let raw = record.fields.joined(separator: [delimiter]).map { $0 }
            try emit(Record(number: number, line: record.line, raw: raw, values: csvValues(record, columns: columns)))
        case .json(let bytes, let line):
            number += 1
            try emit(Record(number: number, line: line, raw: bytes, values: jsonValues(bytes)))
        }
    }

    private mutating func mapHeader(_ record: CSVParser.Record) {
        let names = (record.strings() ?? []).map { $0.trimmingCharacters(in: .whitespaces) }
        headerWidth = names.count
        columns = converters.map { converter in
            names.firstIndex(of: converter.field.name)
                ?? names.firstIndex { $0.lowercased() == converter.field.name.lowercased() }
        }
    }

    private func csvValues(_ record: CSVParser.Record, columns: [Int?]) -> Result<[String?], Rejection> {
        guard record.fields.count == headerWidth else {
            return .failure(Rejection(field: nil, code: "field_count_mismatch",
                                      message: "\(record.fields.count) fields where the header has \(headerWidth)"))
        }
        guard let strings = record.strings() else {
            return .failure(Rejection(field: nil, code: "invalid_utf8", message: "the record is not valid UTF-8"))
        }
        var values: [String?] = []
        values.reserveCapacity(converters.count)
        for (converter, column) in zip(converters, columns) {
            do {
                values.append(try converter.convert(column.map { strings[$0] }, emptyIsNull: true))
            } catch {
                return .failure(Rejection(field: converter.field.name, code: error.code, message: error.message))
            }
        }
        return .success(values)
    }

    private static let decoder = JSONDecoder()

    private func jsonValues(_ bytes: [UInt8]) -> Result<[String?], Rejection> {
        guard case .object(let object)? = try? Self.decoder.decode(JSONValue.self, from: Data(bytes)) else {
            return .failure(Rejection(field: nil, code: "malformed_record", message: "the record is not a JSON object"))
        }
        var values: [String?] = []
        values.reserveCapacity(converters.count)
        for converter in converters {
            let text: String?
            switch object[converter.field.name] {
            case .none, .null?: text = nil
            case .string(let string)?: text = string
            case .array?, .object?:
                return .failure(Rejection(field: converter.field.name, code: "wrong_type",
                                          message: "\(converter.field.name) holds an array or object"))
            case let value?: text = value.textForm
            }
            do {
                values.append(try converter.convert(text, emptyIsNull: false))
            } catch {
                return .failure(Rejection(field: converter.field.name, code: error.code, message: error.message))
            }
        }
        return .success(values)
    }
}
