import ArgumentParser
import SluiceServer

/// `--unsandboxed-apps`, shared by the commands that run tenants' external apps.
struct SandboxOptions: ParsableArguments {
    @Flag(help: "Run tenants' external ingest apps without a sandbox: as Sluice's own user, seeing its files, other tenants' data and the network. Without it they run under bubblewrap, or are refused when it is missing.")
    var unsandboxedApps = false

    func apply(to configuration: inout SluiceConfiguration) {
        configuration.unsandboxedApps = unsandboxedApps
    }
}
