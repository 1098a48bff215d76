import Foundation
import SluiceCore
import Testing

@Suite struct SampleDataGeneratorTests {
    private func tenant(_ id: String) throws -> TenantDefinition {
        try #require(try ConfigurationDirectory.tenantDefinitions(in: "examples").first { $0.definition.definition.id == id })
            .definition.definition
    }

    private func generate(_ definition: TenantDefinition, rows: Int, format: SampleDataGenerator.Format, seed: UInt64 = 42) -> [UInt8] {
        var bytes: [UInt8] = []
        SampleDataGenerator(definition: definition, seed: seed).generate(rows: rows, format: format) { bytes += $0 }
        return bytes
    }

    @Test func csvHasAHeaderAndOneRecordPerRowWithDistinctKeys() throws {
        let definition = try tenant("tenant-a")
        var parser = CSVParser()
        var records: [[String]] = []
        parser.feed(generate(definition, rows: 5000, format: .csv)) { records.append($0.strings() ?? []) }
        try parser.finish { records.append($0.strings() ?? []) }
        #expect(records.count == 5001)
        #expect(records[0] == definition.schema.fields.map(\.name))
        let keyIndexes = definition.primaryKey.compactMap { key in definition.schema.fields.firstIndex { $0.name == key } }
        let keys = Set(records.dropFirst().map { record in keyIndexes.map { record[$0] } })
        #expect(keys.count == 5000)
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() throws {
        let definition = try tenant("tenant-b")
        let first = generate(definition, rows: 1000, format: .ndjson)
        #expect(first == generate(definition, rows: 1000, format: .ndjson))
        #expect(first != generate(definition, rows: 1000, format: .ndjson, seed: 7))
        let lines = first.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 1000)
        let object = try JSONSerialization.jsonObject(with: Data(lines[0])) as? [String: Any]
        #expect(object?.count == definition.schema.fields.count)
    }

    @Test func numbersStayWithinTheTenantsRangeRules() throws {
        let definition = try tenant("tenant-b")
        let lines = generate(definition, rows: 2000, format: .ndjson).split(separator: UInt8(ascii: "\n"))
        let ratings = try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])["star_rating"] as? Int
        }
        #expect(ratings.count == 2000)
        #expect(ratings.allSatisfy { (1...5).contains($0 ?? 0) })
        #expect(Set(ratings).count == 5)
    }
}
