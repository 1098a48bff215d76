import ArgumentParser

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Sluice: a multi-tenant data-ingestion platform on PostgreSQL.",
        subcommands: [Serve.self, Demo.self, Ingest.self, Gen.self, Rules.self, Version.self])
}
