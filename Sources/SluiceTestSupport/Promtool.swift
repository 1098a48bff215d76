/// Runs Prometheus's `promtool` for the metrics and alert-rule checks.
public enum Promtool {
    public static let path = "/usr/bin/promtool"

    /// Runs `promtool arguments…` with `input` on stdin; returns the exit status and combined output.
    public static func run(_ arguments: [String], input: [UInt8] = []) throws -> (status: Int32, output: String) {
        try TestTool.run(path, arguments, input: input, installedBy: "prometheus")
    }
}
