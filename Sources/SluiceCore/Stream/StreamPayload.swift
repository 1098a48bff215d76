import Foundation
import SluiceCompression

/// The messages of one stream request: the body as sent (inflated), its format, and how many messages it
/// holds, split as the loader will read them. A body is refused whole (`400 malformed_body`) when it is
/// not NDJSON, a JSON array or CSV at all; a message that is malformed on its own is one reject.
public struct StreamPayload: Sendable {
    /// How a request's messages are written.
    public enum Format: String, Sendable {
        case ndjson, json, csv

        /// From a `Content-Type` (NDJSON when absent, or curl's default for `--data-binary`); `nil` for a type the
        /// stream API does not take.
        public init?(contentType: String?) {
            guard let contentType else {
                self = .ndjson
                return
            }
            let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            switch type {
            case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "",
                 "application/x-www-form-urlencoded": self = .ndjson
            case "application/json": self = .json
            case "text/csv": self = .csv
            default: return nil
            }
        }
    }

    public let format: Format
    /// The messages as sent (inflated when gzip'd).
    let body: [UInt8]
    /// How many messages `body` holds.
    public let count: Int

    /// The body's bytes.
    public var bytes: Int { body.count }

    /// Splits `body` into messages for `definition`'s tenant (a CSV body starts with a header row when the
    /// tenant's CSV layout has one). Throws `malformed_body` for a body without any message or not in `format`.
    public init(_ body: [UInt8], format: Format, definition: TenantDefinition) throws(ServiceError) {
        self.format = format
        self.body = body
        var count = 0
        do {
            switch format {
            case .ndjson:
                var lines = NDJSONSplitter()
                var looksLikeJSON = false
                let note = { (line: UnsafeBufferPointer<UInt8>, _: Int) in
                    count += 1
                    if let first = line.first(where: { !JSONBytes.isWhitespace($0) }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                        looksLikeJSON = true
                    }
                }
                lines.feedLines(body, note)
                lines.finishLines(note)
                if count > 0 && !looksLikeJSON { throw Self.malformed("no line of the NDJSON body is a JSON object") }
            case .json:
                var array = JSONArraySplitter()
                try array.feed(body) { _ in count += 1 }
                try array.finish()
            case .csv:
                var parser = CSVParser(delimiter: definition.csv.delimiter, quote: definition.csv.quote)
                var header = definition.csv.header
                let note = { (record: CSVParser.Record) throws in
                    guard header else { return count += 1 }
                    header = false
                    _ = try CSVHeaderMapping(headerFields: record.fields, schema: definition.schema)
                }
                try parser.feed(body, note)
                do {
                    try parser.finish(note)
                } catch let error as CSVParser.UnterminatedQuote {
                    throw Self.malformed("\(error)")
                }
            }
        } catch let error as ServiceError {
            throw error.code == "malformed_body" ? error : Self.malformed(error.message)
        } catch {
            throw Self.malformed("\(error)")
        }
        guard count > 0 else { throw Self.malformed("the body holds no messages") }
        self.count = count
    }

    private static func malformed(_ message: String) -> ServiceError {
        ServiceError(.invalid, "malformed_body", message)
    }

    /// The format name the loader reads `body` in.
    var loaderFormat: String { format.rawValue }
}

extension StreamPayload {
    /// Reads a request body as it arrives: inflates it when gzip'd, within the limits on what one request
    /// may hold (`413 request_too_large`); a body that is not valid gzip is `400 malformed_body`.
    public struct Reader {
        private var body: [UInt8] = []
        private let decoder: GzipDecoder?
        private let limit: Int

        /// `limit` bounds the body as sent and inflated; `maximumRatio` the inflated/compressed ratio.
        public init(gzip: Bool, limit: Int, maximumRatio: Int) throws(ServiceError) {
            self.limit = limit
            do {
                decoder = gzip ? try GzipDecoder(configuration: .init(maximumSize: limit, maximumRatio: maximumRatio)) : nil
            } catch {
                throw ServiceError(.unavailable, "inflate_failed", "cannot inflate the body: \(error)")
            }
        }

        /// Bytes read so far (inflated).
        public var count: Int { body.count }

        public mutating func append(_ chunk: [UInt8]) throws(ServiceError) {
            guard let decoder else {
                guard body.count + chunk.count <= limit else { throw Self.tooLarge(limit) }
                return body += chunk
            }
            do {
                try decoder.decode(chunk) { body.append(contentsOf: $0) }
            } catch {
                throw Self.failure(error, limit: limit)
            }
        }

        /// The whole body, once every chunk was appended.
        public mutating func finish() throws(ServiceError) -> [UInt8] {
            do {
                try decoder?.finish()
            } catch {
                throw Self.failure(error, limit: limit)
            }
            return body
        }

        private static func failure(_ error: any Error, limit: Int) -> ServiceError {
            if let error = error as? CompressionError, error.code == CompressionErrorCode.decompressionLimitExceeded {
                return tooLarge(limit)
            }
            return ServiceError(.invalid, "malformed_body", "the gzip body is invalid: \(error)")
        }

        private static func tooLarge(_ limit: Int) -> ServiceError {
            ServiceError(.tooLarge, "request_too_large", "the request holds more than \(limit) bytes (inflated)")
        }
    }
}

extension StreamPayload {
    /// The messages as the lines an external stream app reads: NDJSON lines as sent, JSON array elements on one
    /// line each, CSV rows as JSON objects of strings keyed by their header (or the schema's field names).
    func messageLines(definition: TenantDefinition) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        lines.reserveCapacity(count)
        switch format {
        case .ndjson:
            var splitter = NDJSONSplitter()
            splitter.feed(body) { lines.append($0.bytes) }
            splitter.finish { lines.append($0.bytes) }
        case .json:
            var splitter = JSONArraySplitter()
            // Validated when the request arrived; line breaks between tokens become spaces (none is in a string).
            try? splitter.feed(body) { element in
                lines.append(element.bytes.map { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") ? UInt8(ascii: " ") : $0 })
            }
        case .csv:
            var parser = CSVParser(delimiter: definition.csv.delimiter, quote: definition.csv.quote)
            var names: [String]? = definition.csv.header ? nil : definition.schema.fields.map(\.name)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let emit = { (record: CSVParser.Record) in
                let cells = record.fields.map { String(decoding: $0, as: UTF8.self) }
                guard let header = names else { return names = cells }
                var object: [String: String] = [:]
                for (name, cell) in zip(header, cells) { object[name] = cell }
                lines.append(Array((try? encoder.encode(object)) ?? Data("{}".utf8)))
            }
            parser.feed(body, emit)
            try? parser.finish(emit)
        }
        return lines
    }
}
