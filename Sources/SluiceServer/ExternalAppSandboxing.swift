import Logging
import SluiceCommon
import SluiceCore
import SluiceStore

extension SluiceConfiguration {
    /// The sandbox tenants' external apps run in: bubblewrap, prepared and checked now; without a sandbox only
    /// with `unsandboxedApps`, said loudly; else apps are refused, saying why. Logged once, at start.
    func externalAppSandbox(stagingRoot: String, logger: Logger) async throws -> AppSandbox {
        if unsandboxedApps {
            logger.warning("external ingest apps run WITHOUT a sandbox (--unsandboxed-apps): as Sluice's own user, seeing its files, other tenants' data and the network")
            return .unsandboxed
        }
        let sandbox = try await runOnDedicatedThread(name: "sluice-sandbox") { AppSandbox.prepare(stagingRoot: stagingRoot) }
        switch sandbox.mode {
        case .bubblewrap(let executable, let user):
            logger.info("external ingest apps run in bubblewrap sandboxes",
                        metadata: ["bwrap": "\(executable)", "user": "\(user?.name ?? "sluice's own, unprivileged in its namespace")"])
        case .unavailable(let reason):
            logger.warning("external ingest apps are refused: \(reason)")
        case .unsandboxed:
            break
        }
        return sandbox
    }
}
