import SluiceCore
import Testing

@Suite struct IngestRecordTests {
    /// Validates one CSV-style cell for a single field of `type`.
    private func cell(_ text: String, _ type: AvroType, nullable: Bool = false, default value: JSONValue? = nil) -> Result<String?, RecordRejection> {
        let schema = AvroRecordSchema(name: "t", fields: [AvroField(name: "f", type: type, nullable: nullable, defaultValue: value)])
        return RecordValidator(schema: schema)
            .validate(csvFields: [Array(text.utf8)], mapping: CSVHeaderMapping(positionalFor: schema))
            .map { $0[0] }
    }

    /// Validates one JSON record `{"f": <json>}` for a single field of `type`, checking that the
    /// byte path (no dictionary) gives exactly what decoding and validating the members gives.
    private func json(_ json: String, _ type: AvroType, nullable: Bool = false) throws -> Result<String?, RecordRejection> {
        let schema = AvroRecordSchema(name: "t", fields: [AvroField(name: "f", type: type, nullable: nullable)])
        let bytes = Array("{\"f\": \(json)}".utf8)
        let values = try JSONRecordDecoder.decode(bytes)
        let result = RecordValidator(schema: schema).validate(values)
        #expect(RecordValidator(schema: schema).validate(json: bytes) == result, "\(json) as \(type)")
        return result.map { $0[0] }
    }

    private func code(_ result: Result<String?, RecordRejection>) -> String? {
        if case .failure(let rejection) = result { rejection.code } else { nil }
    }

    @Test(arguments: [
        ("42", AvroType.int, "42"), ("-2147483648", .int, "-2147483648"), (" +7 ", .int, "+7"),
        ("9223372036854775807", .long, "9223372036854775807"), ("-9223372036854775808", .long, "-9223372036854775808"),
        ("1.5", .double, "1.5"), ("1e3", .double, "1e3"), ("-.5", .float, "-.5"), ("3.4e38", .float, "3.4e38"),
        ("TRUE", .boolean, "t"), ("f", .boolean, "f"), ("1", .boolean, "t"), ("No", .boolean, "f"), ("yes", .boolean, "t"),
        ("2024-02-29", .date, "2024-02-29"), ("19723", .date, "2024-01-01"), ("-1", .date, "1969-12-31"),
        ("1704164645000", .timestampMillis, "2024-01-02T03:04:05Z"), ("-1", .timestampMillis, "1969-12-31T23:59:59.999Z"),
        ("2024-01-02T03:04:05Z", .timestampMillis, "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.5+02:00", .timestampMillis, "2024-01-02T01:04:05.500Z"),
        ("2024-01-02 03:04:05", .timestampMillis, "2024-01-02T03:04:05Z"),
        ("2024-01-02T23:30-0130", .timestampMillis, "2024-01-03T01:00:00Z"),
        ("2024-01-02T03:04:05.123456Z", .timestampMillis, "2024-01-02T03:04:05.123Z"),
        ("2024-01-02", .timestampMillis, "2024-01-02T00:00:00Z"),
        ("héllo\tthere", .string, "héllo\tthere"), (" padded ", .string, " padded "),
    ])
    func goodCSVValues(text: String, type: AvroType, expected: String) {
        #expect(cell(text, type) == .success(expected))
    }

    @Test(arguments: [
        ("1.5", AvroType.int, "invalid_int"), ("abc", .int, "invalid_int"), ("-", .long, "invalid_int"), ("1e3", .long, "invalid_int"),
        ("2147483648", .int, "out_of_range"), ("-2147483649", .int, "out_of_range"),
        ("9223372036854775808", .long, "out_of_range"), ("99999999999999999999999", .long, "out_of_range"),
        ("NaN", .double, "invalid_number"), ("inf", .float, "invalid_number"), ("1.2.3", .double, "invalid_number"),
        ("1e", .double, "invalid_number"), (".", .double, "invalid_number"), ("1e999", .double, "out_of_range"),
        ("1e39", .float, "out_of_range"), ("1e-400", .double, "out_of_range"),
        ("maybe", .boolean, "invalid_boolean"), ("2", .boolean, "invalid_boolean"),
        ("2023-02-29", .date, "invalid_date"), ("2024-13-01", .date, "invalid_date"), ("2024-1-1", .date, "invalid_date"),
        ("0000-01-01", .date, "invalid_date"), ("99999999", .date, "out_of_range"), ("1.5", .date, "invalid_date"),
        ("2024-01-02T24:00:00Z", .timestampMillis, "invalid_timestamp"), ("2024-01-02T03:04:05+0", .timestampMillis, "invalid_timestamp"),
        ("2024-01-02X03:04", .timestampMillis, "invalid_timestamp"), ("yesterday", .timestampMillis, "invalid_timestamp"),
        ("2024-01-02T03:04:05Zx", .timestampMillis, "invalid_timestamp"), ("9223372036854775807", .timestampMillis, "out_of_range"),
    ])
    func badCSVValues(text: String, type: AvroType, expected: String) {
        #expect(code(cell(text, type)) == expected)
    }

    @Test func invalidUTF8AndNULAreRejectedForStrings() throws {
        let schema = AvroRecordSchema(name: "t", fields: [AvroField(name: "s", type: .string)])
        let validator = RecordValidator(schema: schema)
        let mapping = CSVHeaderMapping(positionalFor: schema)
        #expect(code(validator.validate(csvFields: [[0x61, 0xFF]], mapping: mapping).map { $0[0] }) == "invalid_utf8")
        #expect(code(validator.validate(csvFields: [[0x61, 0x00]], mapping: mapping).map { $0[0] }) == "invalid_text")
        #expect(throws: RecordRejection.self) { try JSONRecordDecoder.decode([0x7B, 0x22, 0x73, 0x22, 0x3A, 0x22, 0xC3, 0x22, 0x7D]) }
        #expect(code(validator.validate(json: [0x7B, 0x22, 0x73, 0x22, 0x3A, 0x22, 0xC3, 0x22, 0x7D]).map { $0[0] }) == "invalid_utf8")
        // Non-ASCII text longer than the eight-byte fast check, valid and broken.
        #expect(try json("\"0123456789 é 0123456789\"", .string) == .success("0123456789 é 0123456789"))
        #expect(code(validator.validate(json: Array("{\"s\":\"0123456789".utf8) + [0xE9] + Array("0123456789\"}".utf8)).map { $0[0] })
                == "invalid_utf8")
        #expect(code(try json("\"a\\u0000b\"", .string)) == "invalid_text")
    }

    @Test func emptyCellsAndNullsUseDefaultsThenNullThenReject() throws {
        #expect(cell("", .int, nullable: true) == .success(nil))
        #expect(cell("  ", .int, default: .number(5)) == .success("5"))
        #expect(code(cell("", .int)) == "missing_required")
        #expect(cell("", .string) == .success(""))
        #expect(cell("", .date, default: .number(1)) == .success("1970-01-02"))
        #expect(cell("", .timestampMillis, default: .number(0)) == .success("1970-01-01T00:00:00Z"))
        #expect(cell("", .boolean, nullable: true, default: .bool(true)) == .success("t"))
        #expect(cell("", .double, default: .number(2.5)) == .success("2.5"))
        #expect(code(cell("", .int, nullable: false, default: .null)) == "missing_required")
        #expect(try json("null", .long, nullable: true) == .success(nil))
        #expect(code(try json("null", .long)) == "missing_required")
    }

    @Test func jsonValuesOfEachType() throws {
        #expect(try json("9007199254740993", .long) == .success("9007199254740993"))
        #expect(try json("\"12\"", .int) == .success("12"))
        #expect(code(try json("\"\"", .int)) == "invalid_int")
        #expect(code(try json("1.0", .int)) == "invalid_int")
        #expect(code(try json("true", .int)) == "wrong_type")
        #expect(code(try json("[1]", .string)) == "wrong_type")
        #expect(code(try json("{\"a\":1}", .double)) == "wrong_type")
        #expect(try json("-1.25e-2", .double) == .success("-1.25e-2"))
        #expect(try json("false", .boolean) == .success("f"))
        #expect(try json("1", .boolean) == .success("t"))
        #expect(code(try json("2", .boolean)) == "invalid_boolean")
        #expect(try json("\"2024-03-01\"", .date) == .success("2024-03-01"))
        #expect(try json("19783", .date) == .success("2024-03-01"))
        #expect(try json("1704164645123", .timestampMillis) == .success("2024-01-02T03:04:05.123Z"))
        #expect(try json("\"2024-01-02T03:04:05.123Z\"", .timestampMillis) == .success("2024-01-02T03:04:05.123Z"))
        #expect(code(try json("1.5", .timestampMillis)) == "invalid_timestamp")
        #expect(try json("12.50", .string) == .success("12.50"))
        #expect(try json("true", .string) == .success("true"))
        #expect(try json("\"tab\\t\\\"q\\\" \\u00e9 \\ud83d\\ude00\"", .string) == .success("tab\t\"q\" é 😀"))
    }

    @Test func decoderKeepsMembersAndRejectsMalformedRecords() throws {
        let schema = AvroRecordSchema(name: "t", fields: [AvroField(name: "a", type: .string, nullable: true)])
        let values = try JSONRecordDecoder.decode(Array(#" {"a": null, "b": [1, {"x": [true]}], "c": {}, "d": -0.5e+3, "a2": "z"} "#.utf8))
        #expect(values == ["a": .null, "b": .nested, "c": .nested, "d": .number("-0.5e+3"), "a2": .string("z")])
        for bad in ["[1]", "42", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1} x", "{\"a\":[1,]}",
                    "{\"a\":{\"b\"}}", "{\"a\":tru}", "{\"a\":\"\\x\"}", "{\"a\":[}", "{\"a\":\"\u{1}\"}", ""] {
            #expect(throws: RecordRejection.self, "\(bad)") { try JSONRecordDecoder.decode(Array(bad.utf8)) }
            guard case .failure(let rejection) = RecordValidator(schema: schema).validate(json: Array(bad.utf8)) else {
                Issue.record("the byte path accepted \(bad)")
                continue
            }
            #expect(rejection.code == "malformed_record", "\(bad)")
        }
        do {
            _ = try JSONRecordDecoder.decode(Array("[1]".utf8))
            Issue.record("expected a rejection")
        } catch {
            #expect(error.code == "malformed_record")
        }
    }

    @Test func fieldsComeOutInSchemaOrderAndExtraMembersAreIgnored() throws {
        let schema = AvroRecordSchema(name: "t", fields: [
            AvroField(name: "id", type: .long), AvroField(name: "name", type: .string, nullable: true),
            AvroField(name: "active", type: .boolean, defaultValue: .bool(false)),
        ])
        let record = Array(#"{"extra": {"id": [1, "x\"y"]}, "active": true, "id": 8, "id": 7}"#.utf8)
        let values = try JSONRecordDecoder.decode(record)
        #expect(RecordValidator(schema: schema).validate(values) == .success(["7", nil, "t"]))
        #expect(RecordValidator(schema: schema).validate(json: record) == .success(["7", nil, "t"]))
        guard case .failure(let rejection) = RecordValidator(schema: schema).validate(["name": .string("x")]) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(rejection.field == "id")
        #expect(rejection.code == "missing_required")
    }

    private let csvSchema = AvroRecordSchema(name: "t", fields: [
        AvroField(name: "id", type: .int), AvroField(name: "Name", type: .string),
        AvroField(name: "score", type: .double, nullable: true), AvroField(name: "flag", type: .boolean, defaultValue: .bool(true)),
    ])

    @Test func headerMatchesExactlyThenCaseInsensitivelyAndIgnoresExtras() {
        let mapping = CSVHeaderMapping(header: ["extra", "name", "NAME", "Name", "ID"], schema: csvSchema)
        #expect(mapping.columnIndex == [4, 3, nil, nil])
        #expect(mapping.columnCount == 5)
        let row = RecordValidator(schema: csvSchema)
            .validate(csvFields: ["x", "n1", "n2", "exact", "12"].map { Array($0.utf8) }, mapping: mapping)
        #expect(row == .success(["12", "exact", nil, "t"]))
    }

    @Test func missingRequiredColumnRejectsEveryRow() {
        let mapping = CSVHeaderMapping(header: ["name", "score"], schema: csvSchema)
        let row = RecordValidator(schema: csvSchema).validate(csvFields: [Array("a".utf8), Array("1.5".utf8)], mapping: mapping)
        #expect(code(row.map { _ in nil }) == "missing_required")
    }

    @Test func raggedRowsAreRejected() throws {
        let mapping = try CSVHeaderMapping(headerFields: [Array("id".utf8), Array("name".utf8)], schema: csvSchema)
        let validator = RecordValidator(schema: csvSchema)
        #expect(validator.validate(csvFields: [Array("1".utf8), []], mapping: mapping) == .success(["1", "", nil, "t"]))
        #expect(code(validator.validate(csvFields: [Array("1".utf8)], mapping: mapping).map { _ in nil }) == "field_count_mismatch")
        let positional = CSVHeaderMapping(positionalFor: csvSchema)
        let long = ["1", "a", "2", "f", "extra"].map { Array($0.utf8) }
        #expect(code(validator.validate(csvFields: long, mapping: positional).map { _ in nil }) == "field_count_mismatch")
        #expect(validator.validate(csvFields: Array(long.prefix(4)), mapping: positional) == .success(["1", "a", "2", "f"]))
        #expect(throws: ServiceError.self) { try CSVHeaderMapping(headerFields: [[0xFF]], schema: csvSchema) }
    }

    @Test func rejectionsNameTheirField() {
        let mapping = CSVHeaderMapping(positionalFor: csvSchema)
        let result = RecordValidator(schema: csvSchema).validate(csvFields: ["1", "a", "x", ""].map { Array($0.utf8) }, mapping: mapping)
        guard case .failure(let rejection) = result else {
            Issue.record("expected a rejection")
            return
        }
        #expect(rejection.field == "score")
        #expect(rejection.code == "invalid_number")
    }
}
