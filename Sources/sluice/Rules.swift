import ArgumentParser
import Foundation
import SluiceCore

/// `sluice rules check DIR`: validates the monitor's configuration offline, like `promtool check rules`.
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The monitor's rules.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate DIR/rules/*.yaml and DIR/notifications.yaml; print every problem and exit 1 if there is any.")

        @Argument(help: "The configuration directory (the one `serve --config` takes).")
        var directory: String

        func run() throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                FileHandle.standardError.write(Data("FAILED: \(directory) is not a directory\n".utf8))
                throw ExitCode.failure
            }
            do {
                let loaded = try MonitorConfiguration.load(directory: directory)
                let slos = loaded.rules.filter { if case .objective = $0.condition { true } else { false } }.count
                print("SUCCESS: \(loaded.rules.count) rules (\(loaded.rules.count - slos) threshold, \(slos) slo) found in \(directory)")
            } catch {
                let report = (["FAILED: \(error.message)"] + error.details.map { "  \($0)" }).joined(separator: "\n") + "\n"
                FileHandle.standardError.write(Data(report.utf8))
                throw ExitCode.failure
            }
        }
    }
}
