import SluiceCore
import Testing

@Suite struct TenantValidationTests {
    /// A minimal valid native definition with `fields` (YAML flow items) and key `id`.
    private func definition(fields: [String], key: String = "[id]", extra: String = "") -> String {
        """
        id: t1
        schema:
          name: events
          fields:
        \(fields.map { "    - " + $0 }.joined(separator: "\n"))
        primary_key: \(key)
        \(extra)
        """
    }

    @Test func reportsEveryProblemWithItsPath() {
        let yaml = """
            id: Bad Id
            colour: blue
            file_types: [csv, parquet]
            csv: { delimiter: ";;" }
            schema:
              type: record
              name: events
              fields:
                - { name: id, type: string }
                - { name: id, type: string }
                - { name: "", type: int }
                - { name: count, type: integer }
                - { name: _sluice_source_id, type: string }
                - { name: maybe, type: ["null", long] }
                - { name: \(String(repeating: "x", count: 64)), type: string }
            primary_key: [id, X, maybe]
            constraints:
              max_file_size: 5 parsecs
              max_ingest_rate: { bytes_per_second: fast }
            service_agreement:
              data_retention_period_days: soon
              schedule: "61 * * * *"
              resources: { limits: { cpu: lots } }
            ingest_app:
              steps:
                - { op: explode }
                - trim
              quality:
                - { rule: required }
                - { rule: sometimes }
            """
        let problems = TenantFixtures.problems(yaml: yaml)
        let expected = [
            "id: must match ^[a-z][a-z0-9_-]{0,62}$",
            "colour: unknown key",
            "file_types[1]: unknown file type \"parquet\" (expected csv, ndjson or json, optionally .gz)",
            "csv.delimiter: \";;\" is not a single ASCII character",
            "schema.fields[1].name: duplicate field name \"id\" (also schema.fields[0])",
            "schema.fields[2].name: must not be empty",
            "schema.fields[3].type: unknown type \"integer\"",
            "schema.fields[4].name: \"_sluice_source_id\" is reserved: names starting with _sluice_ are lineage columns",
            "schema.fields[6].name: \"\(String(repeating: "x", count: 64))\" is longer than 63 bytes",
            "primary_key[1]: \"X\" is not a field of the schema",
            "primary_key[2]: \"maybe\" is nullable; key fields must be required",
            "constraints.max_file_size: \"5 parsecs\" is not a size",
            "constraints.max_ingest_rate.bytes_per_second: \"fast\" is not a size",
            "service_agreement.data_retention_period_days: \"soon\" is not an integer",
            "service_agreement.schedule: \"61 * * * *\": minute field: 61 is out of range 0-59",
            "service_agreement.resources.limits.cpu: \"lots\" is not a CPU quantity (e.g. 2, 0.5 or 500m)",
            "ingest_app.steps[1]: must be an object, not a string",
            "ingest_app.quality[1].rule: unknown rule \"sometimes\" (expected one of enum, range, regex, required, timeliness)",
        ]
        for problem in expected {
            #expect(problems.contains(problem), "missing: \(problem)\nall: \(problems)")
        }
        #expect(problems.contains { $0.hasPrefix("ingest_app.steps[0].op: unknown operation \"explode\"") })
        #expect(problems.count == expected.count + 1, "\(problems)")
    }

    @Test func errorCarriesCodeAndDescribesAllProblems() throws {
        do {
            _ = try TenantFixtures.parse(yaml: "id: 9lives\nname: 5\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidTenantDefinition)
            #expect(error.code.rawValue == "invalid_tenant_definition")
            #expect(error.problems.contains("id: must match ^[a-z][a-z0-9_-]{0,62}$"))
            #expect(error.problems.contains("name: must be a string, not a number"))
            #expect(error.problems.contains("schema: is required"))
            #expect(error.problems.contains("primary_key: is required"))
            for problem in error.problems { #expect(error.description.contains(problem)) }
        }
    }

    /// A YAML alias bomb: nine anchors nested nine deep name 9⁹ values in 2 KB. Its expansion is bounded, so
    /// the answer is one problem, at once, in little memory (it grew to gigabytes before).
    @Test func aliasBombsAndDeepNestingAreRefusedWithoutExpandingThem() {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        var yaml = "id: t1\nbomb:\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
        for (previous, name) in zip(names, names.dropFirst()) {
            yaml += "  \(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        let problems = TenantFixtures.problems(yaml: yaml)
        #expect(problems.count == 1, "\(problems.prefix(3))")
        #expect(problems.first?.contains("expands to more than 100000 values") == true, "\(problems.prefix(3))")

        let deep = "id: t1\nnested: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n"
        #expect(TenantFixtures.problems(yaml: deep).first?.contains("nests deeper than 64 levels") == true)
    }

    /// Problems quote at most a little of the input: a 200 KB name or a parser's message quoting the whole
    /// document used to come back whole in the 422.
    @Test func problemsEchoLittleOfTheInput() {
        let long = String(repeating: "x", count: 200_000)
        let problems = TenantFixtures.problems(yaml: "id: \(long)\n")
        #expect(!problems.isEmpty && problems.allSatisfy { $0.count <= TenantDefinitionError.maximumProblemLength + 1 }, "\(problems.map(\.count))")
        let broken = TenantFixtures.problems(yaml: "id: [" + String(repeating: "a, ", count: 100_000) + "\n: : :")
        #expect(broken.allSatisfy { $0.count <= TenantDefinitionError.maximumProblemLength + 1 })
        let many = TenantDefinitionError(problems: (0..<500).map { "p\($0): bad" })
        #expect(many.problems.count == 101 && many.problems.last == "… and 400 more problems")
    }


    /// A key given twice in one object is refused with its path in JSON as in YAML (JSON definitions kept
    /// one of the values silently); the same key in different objects, or spelled with escapes, is told apart
    /// correctly.
    @Test func duplicateKeysAreRefusedInJSONAsInYAML() {
        func problems(json: String) -> [String] {
            do {
                _ = try TenantDefinitionParser.parse(Array(json.utf8), format: .json)
                return []
            } catch {
                return error.problems
            }
        }
        let fields = #"{"name": "events", "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "int", "name": "m"}]}"#
        #expect(problems(json: #"{"id": "t1", "schema": \#(fields), "primary_key": ["id"], "\u0069d": "t2"}"#)
                == ["schema.fields[1].name: duplicate key", "id: duplicate key"])
        #expect(problems(json: #"{"id": "t1", "schema": {"name": "events", "fields": [{"name": "id", "type": "string"}]}, "primary_key": ["id"]}"#) == [])
        #expect(TenantFixtures.problems(yaml: "id: t1\nid: t2\n").first?.contains("duplicated key(s): 'id'") == true)
        // Foundation's decoder ignores what follows a NUL: a closing bracket there crashed the key check (found
        // by fuzzing); now it is a document that is not an object, like any other.
        #expect(!problems(json: "2\0\0\0]\"").isEmpty)
    }
    @Test func malformedDocumentsAreProblemsToo() {
        #expect(TenantFixtures.problems(yaml: "id: [unclosed").first?.hasPrefix("(document): invalid YAML") == true)
        #expect(TenantFixtures.problems(yaml: "- a\n- b") == ["(document): must be an object, not an array"])
        #expect(throws: TenantDefinitionError.self) {
            try TenantDefinitionParser.parse(Array("{\"id\": ".utf8), format: .json)
        }
    }

    @Test func emptyFieldListIsAProblem() {
        let problems = TenantFixtures.problems(yaml: "id: t1\nschema: { name: e, fields: [] }\nprimary_key: [id]")
        #expect(problems.contains("schema.fields: must list at least one field"))
        #expect(problems.contains("primary_key[0]: \"id\" is not a field of the schema"))
    }

    @Test func nullableUnionsInEitherOrder() throws {
        let yaml = definition(fields: [
            "{ name: id, type: string }",
            "{ name: a, type: [\"null\", int] }",
            "{ name: b, type: [int, \"null\"] }",
            "{ name: c, type: [\"null\", { type: long, logicalType: timestamp-millis }] }",
        ])
        let fields = try TenantFixtures.parse(yaml: yaml).definition.schema.fields
        #expect(fields.map(\.nullable) == [false, true, true, true])
        #expect(fields.map(\.type) == [.string, .int, .int, .timestampMillis])
        let bad = TenantFixtures.problems(yaml: definition(fields: [
            "{ name: id, type: string }",
            "{ name: a, type: [\"null\", int, string] }",
            "{ name: b, type: \"null\" }",
        ]))
        #expect(bad.contains("schema.fields[1].type: only [\"null\", T] unions are supported"))
        #expect(bad.contains("schema.fields[2].type: a field cannot be only null; use [\"null\", T]"))
    }

    @Test func logicalTypesInsideTheTypeOrBesideIt() throws {
        let yaml = definition(fields: [
            "{ name: id, type: string }",
            "{ name: d1, type: { type: int, logicalType: date } }",
            "{ name: d2, type: string, logicalType: date }",
            "{ name: d3, type: int, logicalType: date }",
            "{ name: t1, type: { type: long, logicalType: timestamp-millis } }",
            "{ name: t2, type: long, logicalType: timestamp-millis }",
            "{ name: t3, type: [\"null\", string], logicalType: timestamp-millis }",
        ])
        let fields = try TenantFixtures.parse(yaml: yaml).definition.schema.fields
        #expect(fields.map(\.type) == [.string, .date, .date, .date, .timestampMillis, .timestampMillis, .timestampMillis])
        #expect(fields.last?.nullable == true)
        let bad = TenantFixtures.problems(yaml: definition(fields: [
            "{ name: id, type: string }",
            "{ name: a, type: { type: long, logicalType: date } }",
            "{ name: b, type: int, logicalType: decimal }",
            "{ name: c, type: timestamp-millis }",
        ]))
        #expect(bad == [
            "schema.fields[1].type.logicalType: logical type \"date\" requires type int or string, not long",
            "schema.fields[2].logicalType: unknown logical type \"decimal\"",
            "schema.fields[3].type: unknown type \"timestamp-millis\"",
        ])
    }

    @Test func defaultsAreTypeChecked() throws {
        let good = definition(fields: [
            "{ name: id, type: string, default: x }",
            "{ name: n, type: int, default: 3 }",
            "{ name: l, type: long, default: 5000000000 }",
            "{ name: f, type: double, default: 1.5 }",
            "{ name: b, type: boolean, default: false }",
            "{ name: d, type: { type: int, logicalType: date }, default: \"2024-02-29\" }",
            "{ name: t, type: { type: long, logicalType: timestamp-millis }, default: \"2024-01-01T00:00:00Z\" }",
            "{ name: o, type: [\"null\", string], default: null }",
        ])
        let fields = try TenantFixtures.parse(yaml: good).definition.schema.fields
        #expect(fields[1].defaultValue == .number(3))
        #expect(fields[4].defaultValue == .bool(false))
        #expect(fields[7].defaultValue == .null)
        let bad = TenantFixtures.problems(yaml: definition(fields: [
            "{ name: id, type: string, default: 1 }",
            "{ name: n, type: int, default: 1.5 }",
            "{ name: m, type: int, default: 5000000000 }",
            "{ name: b, type: boolean, default: \"yes\" }",
            "{ name: d, type: string, logicalType: date, default: \"2023-02-29\" }",
            "{ name: r, type: string, default: null }",
        ]))
        #expect(bad == [
            "schema.fields[0].default: 1 does not match type string",
            "schema.fields[1].default: 1.5 does not match type int",
            "schema.fields[2].default: 5000000000 does not match type int",
            "schema.fields[3].default: \"yes\" does not match type boolean",
            "schema.fields[4].default: \"2023-02-29\" does not match type date",
            "schema.fields[5].default: null is only allowed for nullable fields",
        ])
    }

    @Test func sizesWithUnits() throws {
        #expect(ByteSize.parse("512") == 512)
        #expect(ByteSize.parse("1KB") == 1000)
        #expect(ByteSize.parse("5 MB") == 5_000_000)
        #expect(ByteSize.parse("2GB") == 2_000_000_000)
        #expect(ByteSize.parse("1KiB") == 1024)
        #expect(ByteSize.parse("100MiB") == 100 << 20)
        #expect(ByteSize.parse("1.5GiB") == 3 << 29)
        #expect(ByteSize.parse("128Mi") == 128 << 20)
        #expect(ByteSize.parse("2Gi") == 2 << 30)
        #expect(ByteSize.parse("4Ki") == 4096)
        #expect(ByteSize.parse("5 parsecs") == nil)
        #expect(ByteSize.parse("-1MB") == nil)
        #expect(ByteSize.parse("MB") == nil)
        #expect(ByteSize.parse("") == nil)

        let yaml = definition(fields: ["{ name: id, type: string }"], extra: """
            constraints:
              max_file_size: 1048576
              storage_quota: 3Gi
              max_staged_files: "10"
              max_ingest_rate: { bytes_per_second: 10MB, burst: 64MiB }
            service_agreement:
              resources: { memory_limit: 1GiB, limits: { cpu: "2" } }
            """)
        let tenant = try TenantFixtures.parse(yaml: yaml).definition
        #expect(tenant.constraints == Constraints(
            maxFileSizeBytes: 1 << 20, maxStagedFiles: 10, storageQuotaBytes: 3 << 30,
            maxIngestRate: IngestRate(bytesPerSecond: 10_000_000, burstBytes: 64 << 20)))
        #expect(tenant.serviceAgreement.resources.memoryLimitBytes == 1 << 30)
        #expect(tenant.serviceAgreement.resources.cpuCores == 2)
        #expect(tenant.serviceAgreement.resources.concurrency == 1)
        #expect(tenant.serviceAgreement.dataRetentionDays == 30)
    }

    @Test func defaultsOfAMinimalDefinition() throws {
        let tenant = try TenantFixtures.parse(yaml: definition(fields: ["{ name: id, type: string }"])).definition
        #expect(tenant.displayName == "t1")
        #expect(tenant.fileTypes == [FileType(.csv)])
        #expect(tenant.constraints == Constraints())
        #expect(tenant.constraints.maxFileSizeBytes == 100 << 20)
        #expect(tenant.constraints.storageQuotaBytes == 10 << 30)
        #expect(tenant.constraints.maxIngestRate == nil)
        #expect(tenant.serviceAgreement == ServiceAgreement())
        #expect(tenant.ingestApp == IngestApp())
    }

    @Test func fileTypeNames() {
        #expect(FileType("jsonl") == FileType(.ndjson))
        #expect(FileType("jsonl.gz") == FileType(.ndjson, gzip: true))
        #expect(FileType("json.gz")?.description == "json.gz")
        #expect(FileType("csv.gz.gz") == nil)
        #expect(FileType("xml") == nil)
    }

    @Test func stepAndRuleParametersAreCheckedAgainstTheSchema() {
        let yaml = definition(fields: ["{ name: id, type: string }", "{ name: n, type: int }",
                                       "{ name: at, type: { type: long, logicalType: timestamp-millis } }"], extra: """
            ingest_app:
              steps:
                - { op: cast, field: n, to: date }
                - { op: filter, field: n }
                - { op: parse_timestamp, field: at, format: "%Y-%q" }
                - { op: rename, fields: [a, b] }
                - { op: trim, fields: [id], colour: red }
                - { op: dedupe, keep: middle }
                - { op: trim, fields: [id] }
              quality:
                - { rule: regex, field: id, pattern: "(" }
                - { rule: timeliness, field: id, max_age_days: 3 }
                - { rule: range, field: n }
                - { rule: enum, field: missing, values: [a] }
                - { rule: range, field: n, min: 0, max: 9 }
            """)
        let problems = TenantFixtures.problems(yaml: yaml)
        let expected = [
            "ingest_app.steps[0].to: must be string, int, long, float, double or boolean, not \"date\"",
            "ingest_app.steps[1]: names no condition (equals, not_equals, in, not_in, gt, gte, lt, lte, matches, not_empty)",
            "ingest_app.steps[2].format: unsupported directive %q",
            "ingest_app.steps[3].fields: must map old names to new names, e.g. {OLD: new}",
            "ingest_app.steps[4].colour: unknown key",
            "ingest_app.steps[5].keep: must be first or last, not \"middle\"",
            "ingest_app.quality[1]: timeliness needs a date or timestamp-millis field; \"id\" is string",
            "ingest_app.quality[2]: needs min, max or both",
            "ingest_app.quality[3]: names \"missing\", which is not a schema field",
        ]
        for problem in expected {
            #expect(problems.contains(problem), "missing: \(problem)\nall: \(problems)")
        }
        #expect(problems.contains { $0.hasPrefix("ingest_app.quality[0].pattern: \"(\" is not a valid regular expression") })
        #expect(problems.count == expected.count + 1, "\(problems)")
    }

    @Test func externalIngestApps() throws {
        let yaml = definition(fields: ["{ name: id, type: string }"], extra: """
            ingest_app: { kind: external, command: [/usr/bin/python3, ingest.py], output: out_dir, on_conflict: nothing }
            """)
        let app = try TenantFixtures.parse(yaml: yaml).definition.ingestApp
        #expect(app == IngestApp(kind: .external, onConflict: .nothing, command: ["/usr/bin/python3", "ingest.py"], output: .outDir))
        let bad = TenantFixtures.problems(yaml: definition(fields: ["{ name: id, type: string }"], extra: """
            ingest_app: { kind: external, command: ["", x], steps: [], output: file }
            """))
        #expect(bad == [
            "ingest_app.steps: is not allowed for external apps",
            "ingest_app.command: the program (first element) must not be empty",
            "ingest_app.output: must be stdout or out_dir, not \"file\"",
        ])
        let missing = TenantFixtures.problems(yaml: definition(fields: ["{ name: id, type: string }"], extra: """
            ingest_app: { kind: external }
            """))
        #expect(missing == ["ingest_app.command: is required"])
    }

    @Test func seedLayoutProblemsArePrefixed() {
        let json = """
            {"data_file_configuration": {"name": "x", "file_type": "xls", "schema": {"name": "t",
              "fields": [{"name": "a", "type": "integer"}]}, "primary_key": ["a"], "max_file_size_mb": "big"},
             "service_agreement": {"client": "Client A", "schedule": "* * *"}}
            """
        do {
            _ = try TenantDefinitionParser.parse(Array(json.utf8), format: .json)
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.contains(
                "data_file_configuration.file_type: unknown file type \"xls\" (expected csv, ndjson or json, optionally .gz)"))
            #expect(error.problems.contains("data_file_configuration.schema.fields[0].type: unknown type \"integer\""))
            #expect(error.problems.contains("data_file_configuration.max_file_size_mb: \"big\" is not an integer"))
            #expect(error.problems.contains("service_agreement.client: must match ^[a-z][a-z0-9_-]{0,62}$"))
            #expect(error.problems.contains { $0.hasPrefix("service_agreement.schedule: \"* * *\": expected 5 fields") })
        }
    }
}
