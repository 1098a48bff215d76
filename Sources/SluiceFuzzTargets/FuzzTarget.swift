import Foundation
import SluiceCore

/// The parsers of untrusted input that are fuzzed, each run on one input by ``run(_:)``.
///
/// Every target must survive any input without crashing, hanging or growing without bound. The
/// incremental parsers are also checked against themselves: the input fed in one piece and split at
/// points derived from the input must give the same result, since the network splits a body anywhere.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case csv
    case ndjson
    case jsonArray = "json-array"
    case jsonRecord = "json-record"
    case multipart
    case definitionYAML = "definition-yaml"
    case definitionJSON = "definition-json"
    case cron
    case timestamp

    /// Runs the target on `input`, throwing ``FuzzFinding`` when an invariant does not hold.
    public func run(_ input: [UInt8]) throws(FuzzFinding) {
        switch self {
        case .csv: try FuzzTarget.checkSplitInvariance(input, target: self, parse: FuzzTarget.csvRecords)
        case .ndjson: try FuzzTarget.checkSplitInvariance(input, target: self, parse: FuzzTarget.ndjsonLines)
        case .jsonArray: try FuzzTarget.checkSplitInvariance(input, target: self, parse: FuzzTarget.jsonArrayElements)
        case .multipart: try FuzzTarget.checkSplitInvariance(input, target: self, parse: FuzzTarget.multipartEvents)
        case .jsonRecord: try FuzzTarget.decodeRecord(input)
        case .definitionYAML: _ = try? TenantDefinitionParser.parse(input, format: .yaml)
        case .definitionJSON: _ = try? TenantDefinitionParser.parse(input, format: .json)
        case .cron: try FuzzTarget.cron(input)
        case .timestamp: try FuzzTarget.timestamp(input)
        }
    }

    // MARK: Incremental parsers

    /// What one parse of a whole input produced: its items in order, and the error that ended it.
    typealias Outcome<Item: Equatable> = (items: [Item], error: String?)

    /// Parses `input` whole, then split in up to three pieces at offsets taken from its first bytes, and
    /// requires the same outcome: the same items and error (items completed by a chunk that then failed
    /// may be missing from the whole parse).
    private static func checkSplitInvariance<Item: Equatable>(_ input: [UInt8], target: FuzzTarget,
                                                              parse: ([ArraySlice<UInt8>]) -> Outcome<Item>) throws(FuzzFinding) {
        let whole = parse([input[...]])
        guard input.count > 2 else { return }
        let first = Int(input[0]) * input.count / 256, second = Int(input[1]) * input.count / 256
        let cuts = [min(first, second), max(first, second)]
        let pieces = [input[..<cuts[0]], input[cuts[0]..<cuts[1]], input[cuts[1]...]]
        let split = parse(pieces)
        // A parser that fails drops what the failing chunk completed, so before an error fewer items may come.
        let agree = whole.error == nil ? split.items == whole.items : split.items.starts(with: whole.items)
        guard agree, split.error == whole.error else {
            throw FuzzFinding(target: target, message: "split at \(cuts) gives \(split) instead of \(whole)")
        }
    }

    private static func csvRecords(_ pieces: [ArraySlice<UInt8>]) -> Outcome<CSVParser.Record> {
        var parser = CSVParser()
        var items: [CSVParser.Record] = []
        let emit = { (record: CSVParser.Record) in items.append(record) }
        do {
            for piece in pieces { parser.feed(piece, emit) }
            try parser.finish(emit)
            return (items, nil)
        } catch {
            return (items, "\(error)")
        }
    }

    private static func ndjsonLines(_ pieces: [ArraySlice<UInt8>]) -> Outcome<RawRecord> {
        var splitter = NDJSONSplitter()
        var items: [RawRecord] = []
        let emit = { (record: RawRecord) in items.append(record) }
        for piece in pieces { splitter.feed(piece, emit) }
        splitter.finish(emit)
        return (items, nil)
    }

    private static func jsonArrayElements(_ pieces: [ArraySlice<UInt8>]) -> Outcome<JSONArraySplitter.Element> {
        var splitter = JSONArraySplitter()
        var items: [JSONArraySplitter.Element] = []
        do {
            for piece in pieces { try splitter.feed(piece) { items.append($0) } }
            try splitter.finish()
            return (items, nil)
        } catch {
            return (items, "\(error)")
        }
    }

    /// The boundary the multipart target's inputs use.
    static let multipartBoundary = "sluice-fuzz"

    /// Part data events are merged: how a part's body is chunked depends on the pieces, not its bytes.
    private static func multipartEvents(_ pieces: [ArraySlice<UInt8>]) -> Outcome<MultipartEvent> {
        var parser = MultipartParser(boundary: multipartBoundary, maximumHeaderBytes: 1024)
        var items: [MultipartEvent] = []
        func record(_ events: [MultipartEvent]) {
            for event in events {
                if case .partData(let bytes) = event, case .partData(let earlier) = items.last {
                    items[items.count - 1] = .partData(earlier + bytes)
                } else if event != .partData([]) {
                    items.append(event)
                }
            }
        }
        do {
            for piece in pieces { record(try parser.feed(Array(piece))) }
            record(try parser.finish())
            return (items, nil)
        } catch {
            return (items, "\(error)")
        }
    }

    // MARK: Records, schedules, times

    /// A schema with a field of every type, so a decoded record's values reach every field parser.
    private static let validator = RecordValidator(schema: AvroRecordSchema(name: "fuzz", fields: AvroType.allCases.map {
        AvroField(name: $0.rawValue, type: $0, nullable: true)
    }))

    /// The fast path (``RecordValidator/validate(json:)``) must agree with decoding the members and
    /// validating them: the same values, or both a rejection.
    private static func decodeRecord(_ input: [UInt8]) throws(FuzzFinding) {
        let direct = validator.validate(json: input)
        let decoded = Result { () throws(RecordRejection) in try JSONRecordDecoder.decode(input) }.flatMap(validator.validate)
        switch (direct, decoded) {
        case (.success(let fast), .success(let slow)) where fast == slow: return
        case (.failure, .failure): return
        default: throw FuzzFinding(target: .jsonRecord, message: "validate(json:) gives \(direct), decoding first gives \(decoded)")
        }
    }

    private static let cronStart = Date(timeIntervalSince1970: 1_790_000_000)

    private static func cron(_ input: [UInt8]) throws(FuzzFinding) {
        guard let schedule = try? CronSchedule(String(decoding: input, as: UTF8.self)),
              let next = schedule.nextDate(after: cronStart) else { return }
        guard next > cronStart else {
            throw FuzzFinding(target: .cron, message: "'\(schedule)' next fire \(next) is not after \(cronStart)")
        }
    }

    /// The input as the text of a timestamp and of a date: accepted text is normalised, and normalising
    /// the normal form again must not change it.
    private static func timestamp(_ input: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: input, as: UTF8.self)
        for field in [AvroType.timestampMillis, .date] {
            guard case .success(let values) = validator.validate(csvFields: [Array(text.utf8)], mapping: mapping(field)),
                  let normal = values.compactMap({ $0 }).first else { continue }
            guard case .success(let again) = validator.validate(csvFields: [Array(normal.utf8)], mapping: mapping(field)),
                  again.compactMap({ $0 }).first == normal else {
                throw FuzzFinding(target: .timestamp, message: "\(field) '\(text)' normalises to '\(normal)', which does not normalise to itself")
            }
        }
    }

    private static func mapping(_ field: AvroType) -> CSVHeaderMapping {
        CSVHeaderMapping(header: [field.rawValue], schema: validator.schema)
    }
}

/// An invariant a fuzz target found broken.
public struct FuzzFinding: Error, CustomStringConvertible, Sendable {
    public let target: FuzzTarget
    public let message: String
    public var description: String { "\(target.rawValue): \(message)" }
}
