import ArgumentParser
import Logging
import SluiceServer

/// `--log-format` and `--log-level`, shared by the commands that log.
struct LoggingOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(help: "Log format: text or json (env SLUICE_LOG_FORMAT).")
    var logFormat: Format = Format(rawValue: environment("SLUICE_LOG_FORMAT") ?? "") ?? .text

    @Option(help: "Minimum log level: trace, debug, info, notice, warning, error, critical (env SLUICE_LOG_LEVEL).")
    var logLevel: String = environment("SLUICE_LOG_LEVEL") ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown log level \"\(logLevel)\"")
        }
    }

    /// Installs the chosen handler process-wide and returns the root logger.
    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "sluice")
    }
}

func environment(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
    return value
}

import Foundation
