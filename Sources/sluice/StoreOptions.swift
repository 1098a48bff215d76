import ArgumentParser
import Foundation
import SluiceServer

/// `--database-url`, `--data-dir` and `--config`, shared by the commands that open Sluice's store.
struct StoreOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL or conninfo; omit to run an embedded cluster (env SLUICE_DATABASE_URL, which other local users cannot read; a password given here is hidden from them once Sluice starts).")
    var databaseURL: String?

    @Option(help: "Directory for Sluice's state: embedded PostgreSQL, staging (env SLUICE_DATA_DIR).")
    var dataDir: String = environment("SLUICE_DATA_DIR") ?? ".sluice"

    @Option(help: "Staging directory for uploads (default DATA_DIR/staging; env SLUICE_STAGING_DIR). Instances sharing a database must share it.")
    var stagingDir: String?

    @Option(help: "Directory of configuration files such as tenant definitions, applied at start (env SLUICE_CONFIG).")
    var config: String?

    func validate() throws {
        guard let directory = configDirectory else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--config \(directory) is not a directory")
        }
    }

    /// Sets the store, data directory and configuration directory of `configuration`.
    func apply(to configuration: inout SluiceConfiguration) {
        HiddenPasswords.hideInArguments()
        configuration.store.databaseURL = databaseURL ?? environment("SLUICE_DATABASE_URL")
        configuration.dataDirectory = dataDir
        configuration.stagingDirectory = stagingDir ?? environment("SLUICE_STAGING_DIR")
        configuration.configDirectory = configDirectory
    }

    private var configDirectory: String? { config ?? environment("SLUICE_CONFIG") }
}
