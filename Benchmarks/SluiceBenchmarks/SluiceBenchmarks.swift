import ArgumentParser

@main
struct SluiceBenchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-benchmarks",
        abstract: "Sluice benchmarks. Each prints its numbers and the ratio to a baseline measured in the same run.",
        subcommands: [MetricsBenchmark.self, UploadBenchmark.self, IngestBenchmark.self, StreamBenchmark.self, RulesBenchmark.self])
}
