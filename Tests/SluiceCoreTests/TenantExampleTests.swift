import Foundation
import SluiceCore
import Testing

/// Loads the repository's example and seed definitions.
enum TenantFixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        Array(try Data(contentsOf: repositoryRoot.appendingPathComponent(relativePath)))
    }

    static func parse(_ relativePath: String) throws -> ParsedTenantDefinition {
        let format = try #require(TenantDefinitionParser.format(forFileName: relativePath))
        return try TenantDefinitionParser.parse(bytes(relativePath), format: format)
    }

    static func parse(yaml: String) throws(TenantDefinitionError) -> ParsedTenantDefinition {
        try TenantDefinitionParser.parse(Array(yaml.utf8), format: .yaml)
    }

    /// The problems reported for `yaml`, or an empty list if it parses.
    static func problems(yaml: String) -> [String] {
        do {
            _ = try parse(yaml: yaml)
            return []
        } catch {
            return error.problems
        }
    }
}

@Suite struct TenantExampleTests {
    @Test func tenantAExampleParses() throws {
        let parsed = try TenantFixtures.parse("examples/tenants/tenant-a.yaml")
        let tenant = parsed.definition
        #expect(parsed.warnings.isEmpty)
        #expect(tenant.id == "tenant-a")
        #expect(tenant.displayName == "speed-tracking-data")
        #expect(tenant.metadata["key_space"] == "mysimbdp_coredms")
        #expect(tenant.fileTypes == [FileType(.csv), FileType(.csv, gzip: true)])
        #expect(tenant.csv == CSVOptions(header: true, delimiter: UInt8(ascii: ","), quote: UInt8(ascii: "\"")))
        #expect(tenant.schema.name == "analytics")
        #expect(tenant.schema.fields.map(\.name) == [
            "PROVINCECODE", "DEVICEID", "IFINDEX", "FRAME", "SLOT", "PORT", "ONUINDEX", "ONUID", "TIME", "SPEEDIN",
            "SPEEDOUT",
        ])
        #expect(tenant.schema.fields.map(\.type) == [
            .string, .string, .int, .int, .int, .int, .int, .int, .string, .double, .double,
        ])
        #expect(tenant.schema.fields.allSatisfy { !$0.nullable })
        #expect(tenant.primaryKey == ["PROVINCECODE", "DEVICEID", "ONUID", "TIME"])
        #expect(tenant.constraints.maxFileSizeBytes == 2 << 30)
        #expect(tenant.constraints.storageQuotaBytes == 20 << 30)
        #expect(tenant.constraints.maxIngestRate == IngestRate(bytesPerSecond: 200 << 20, burstBytes: 2 << 30))
        #expect(tenant.serviceAgreement.dataRetentionDays == 7)
        #expect(tenant.serviceAgreement.schedule == nil)
        #expect(tenant.serviceAgreement.resources.concurrency == 2)
        #expect(tenant.ingestApp.kind == .declarative)
        #expect(tenant.ingestApp.onConflict == .update)
        #expect(tenant.ingestApp.steps.count == 1)
    }

    @Test func tenantBExampleParses() throws {
        let parsed = try TenantFixtures.parse("examples/tenants/tenant-b.yaml")
        let tenant = parsed.definition
        #expect(tenant.id == "tenant-b")
        #expect(tenant.displayName == "amazon-product-review-data")
        #expect(tenant.fileTypes.map(\.description) == ["csv", "csv.gz", "ndjson"])
        #expect(tenant.schema.name == "product_reviews")
        #expect(tenant.schema.fields.count == 15)
        #expect(tenant.schema.field(named: "review_date")?.type == .date)
        #expect(tenant.schema.field(named: "star_rating")?.type == .int)
        #expect(tenant.primaryKey == ["product_id", "review_id", "customer_id"])
        #expect(tenant.constraints.maxFileSizeBytes == 100 << 20)
        #expect(tenant.serviceAgreement.dataRetentionDays == 3)
        #expect(tenant.serviceAgreement.schedule == nil)
        #expect(tenant.ingestApp.quality.count == 1)
    }

    @Test func seedClientALoadsUnchanged() throws {
        let parsed = try TenantFixtures.parse("examples/seeds/client_a.json")
        let tenant = parsed.definition
        #expect(parsed.warnings.isEmpty)
        #expect(tenant.id == "client_a")
        #expect(tenant.displayName == "speed-tracking-data")
        #expect(tenant.metadata == ["key_space": "mysimbdp_coredms"])
        #expect(tenant.fileTypes == [FileType(.csv)])
        #expect(tenant.csv.header)
        #expect(tenant.schema.name == "analytics")
        #expect(tenant.schema.fields.count == 11)
        #expect(tenant.primaryKey == ["PROVINCECODE", "DEVICEID", "ONUID"])
        #expect(tenant.constraints.maxFileSizeBytes == 50 * 1_048_576)
        #expect(tenant.serviceAgreement.dataRetentionDays == 7)
        #expect(tenant.serviceAgreement.schedule?.expression == "0 * * * *")
        #expect(tenant.serviceAgreement.resources.memoryLimitBytes == 128 * 1_048_576)
        #expect(tenant.serviceAgreement.resources.cpuCores == 0.5)
    }

    @Test func tenantCStreamsThroughItsExternalStreamApp() throws {
        let tenant = try TenantFixtures.parse("examples/tenants/tenant-c.yaml").definition
        #expect(tenant.constraints.maxStreamRate == StreamRate(messagesPerSecond: 20_000, burst: 100_000))
        let stream = tenant.serviceAgreement.stream
        #expect(stream.minInstances == 0 && stream.maxInstances == 2 && stream.idleStopSeconds == 300 && stream.startOnDemand)
        #expect(stream.maxQueueMessages == 50_000 && stream.lingerMilliseconds == 10 && stream.batchMessages == nil)
        #expect(tenant.ingestApp.kind == .declarative && tenant.effectiveStreamApp.kind == .external)
        // From the configuration directory, the app's relative path is taken from the directory.
        let configured = try #require(try ConfigurationDirectory.tenantDefinitions(in: TenantFixtures.repositoryRoot.path + "/examples")
            .first { $0.definition.definition.id == "tenant-c" })
        let command = try #require(configured.definition.definition.streamApp?.command.first)
        #expect(command == TenantFixtures.repositoryRoot.standardizedFileURL.path + "/examples/apps/reshape-readings.sh")
        #expect(FileManager.default.isExecutableFile(atPath: command))
    }

    @Test func streamSettingsAreValidated() {
        let base = """
            id: bad-stream
            schema: {type: record, name: r, fields: [{name: k, type: string}]}
            primary_key: [k]
            """
        #expect(TenantFixtures.problems(yaml: base + "\nservice_agreement: {stream: {min_instances: 3, max_instances: 2}}")
            == ["service_agreement.stream.min_instances: must not exceed max_instances (2)"])
        #expect(TenantFixtures.problems(yaml: base + "\nconstraints: {max_stream_rate: {messages_per_second: -1}}")
            == ["constraints.max_stream_rate.messages_per_second: -1 is not a number from 0.001 to 1000000000"])
        // Beyond the range a burst or a wait would overflow (a rate of 1e19 with no burst crashed the service).
        for rate in ["1e19", "1e-300"] {
            #expect(TenantFixtures.problems(yaml: base + "\nconstraints: {max_stream_rate: {messages_per_second: \(rate)}}").count == 1)
        }
        #expect(TenantFixtures.problems(yaml: base + "\nservice_agreement: {stream: {batch_messages: 20000, linger: 5}}").count == 2)
        #expect(TenantFixtures.problems(yaml: base + "\nstream_app: {kind: declarative, steps: [{op: cast, fields: [k], to: nope}]}")
            .first?.hasPrefix("stream_app.steps[0]") == true)
        #expect(TenantFixtures.problems(yaml: base + "\nconstraints: {max_stream_rate: {messages_per_second: 10}}").isEmpty)
    }

    @Test func seedClientBLoadsUnchangedWithCPUWarning() throws {
        let parsed = try TenantFixtures.parse("examples/seeds/client_b.json")
        let tenant = parsed.definition
        #expect(tenant.id == "client_b")
        #expect(tenant.metadata["key_space"] == "product_insights")
        #expect(tenant.schema.field(named: "review_date")?.type == .date)
        #expect(tenant.schema.field(named: "review_date")?.nullable == false)
        #expect(tenant.primaryKey == ["product_id", "review_id", "customer_id"])
        #expect(tenant.constraints.maxFileSizeBytes == 20 * 1_048_576)
        #expect(tenant.serviceAgreement.dataRetentionDays == 3)
        #expect(tenant.serviceAgreement.schedule?.expression == "*/1 * * * *")
        #expect(tenant.serviceAgreement.resources.memoryLimitBytes == 256 * 1_048_576)
        #expect(tenant.serviceAgreement.resources.cpuCores == 1)
        #expect(parsed.warnings.count == 1)
        #expect(parsed.warnings.first?.hasPrefix("service_agreement.resources.limits.cpu: \"1Gi\"") == true)
    }

    @Test(arguments: [
        "examples/tenants/tenant-a.yaml", "examples/tenants/tenant-b.yaml", "examples/tenants/tenant-c.yaml",
        "examples/tenants/tenant-d.yaml", "examples/seeds/client_a.json", "examples/seeds/client_b.json",
    ])
    func encodedJSONParsesBackToTheSameDefinition(path: String) throws {
        let original = try TenantFixtures.parse(path).definition
        let json = try JSONEncoder().encode(original)
        let reparsed = try TenantDefinitionParser.parse(Array(json), format: .json)
        #expect(reparsed.definition == original)
        #expect(reparsed.warnings.isEmpty)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["file_types"] != nil && object["primary_key"] != nil && object["fileTypes"] == nil)
        let constraints = try #require(object["constraints"] as? [String: Any])
        #expect(constraints["max_file_size"] as? Int == original.constraints.maxFileSizeBytes)
    }

    @Test func formatsFromFileNamesAndContentTypes() {
        #expect(TenantDefinitionParser.format(forFileName: "tenant-a.yaml") == .yaml)
        #expect(TenantDefinitionParser.format(forFileName: "a.YML") == .yaml)
        #expect(TenantDefinitionParser.format(forFileName: "client_a.json") == .json)
        #expect(TenantDefinitionParser.format(forFileName: "notes.txt") == nil)
        #expect(TenantDefinitionParser.format(forContentType: "application/json; charset=utf-8") == .json)
        #expect(TenantDefinitionParser.format(forContentType: "application/x-yaml") == .yaml)
        #expect(TenantDefinitionParser.format(forContentType: "text/yaml") == .yaml)
        #expect(TenantDefinitionParser.format(forContentType: "application/yaml") == .yaml)
        #expect(TenantDefinitionParser.format(forContentType: "text/plain") == nil)
    }
}
