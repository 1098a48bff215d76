import ArgumentParser
import Foundation
import SluiceCore

struct Gen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write deterministic sample data for a tenant's schema.",
        discussion: "The tenant is read from the configuration directory (e.g. examples). The same seed gives the same bytes.")

    @Option(help: "Configuration directory holding tenants/*.yaml (env SLUICE_CONFIG).")
    var config: String?

    @Option(help: "Tenant id.")
    var tenant: String

    @Option(help: "Rows to write.")
    var rows: Int

    @Option(help: "Output format: csv or ndjson.")
    var format: String = "csv"

    @Option(help: "Random seed.")
    var seed: UInt64 = 42

    @Option(name: .shortAndLong, help: "Output file (default: standard output).")
    var output: String?

    func validate() throws {
        guard rows >= 0 else { throw ValidationError("--rows must not be negative") }
        guard SampleDataGenerator.Format(rawValue: format) != nil else { throw ValidationError("--format must be csv or ndjson") }
    }

    func run() throws {
        guard let directory = config ?? environment("SLUICE_CONFIG") else {
            throw ValidationError("give --config DIR (the directory holding tenants/*.yaml)")
        }
        let definitions: [(file: String, definition: ParsedTenantDefinition)]
        do {
            definitions = try ConfigurationDirectory.tenantDefinitions(in: directory)
        } catch let error as ServiceError {
            throw ValidationError(([error.message] + error.details).joined(separator: "\n"))
        }
        guard let definition = definitions.first(where: { $0.definition.definition.id == tenant })?.definition.definition else {
            throw ValidationError("no tenant \"\(tenant)\" in \(directory)/tenants")
        }
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil), let file = FileHandle(forWritingAtPath: output) else {
                throw ValidationError("cannot write \(output)")
            }
            handle = file
        } else {
            handle = FileHandle.standardOutput
        }
        defer { try? handle.close() }
        try SampleDataGenerator(definition: definition, seed: seed)
            .generate(rows: rows, format: SampleDataGenerator.Format(rawValue: format) ?? .csv) { try handle.write(contentsOf: $0) }
    }
}
