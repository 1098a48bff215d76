import Foundation
import SluiceTestSupport
import Testing

/// The web console in a real browser: `scripts/console-check.py` drives Debian's headless Chromium through Selenium
/// against a real `sluice serve` (see the script for every step: a wrong key, uploads to `succeeded`, markup in a
/// file name and a rejected row shown as text with no script run, rejects, filtered records downloaded, a chart,
/// every page, the admin's overview). Screenshots of each page go to `.build/test-artifacts/console/`.
@Suite struct ConsoleBrowserTests {
    @Test func theConsoleWorksInChromiumAndShowsTenantStringsAsText() async throws {
        let work = try TestPostgres.makeTemporaryDirectory(prefix: "console")
        let sluice = try await SluiceProcess.serving(in: work, adminToken: "console-admin")
        do {
            let key = try await sluice.createTenant(tenantYAML("web"), adminToken: "console-admin")
            let artifacts = SluiceProcess.packageRoot + "/.build/test-artifacts/console"
            try? FileManager.default.removeItem(atPath: artifacts)
            let check = try TestDaemon(SluiceProcess.packageRoot + "/.build/test-tools/bin/python", [SluiceProcess.packageRoot + "/scripts/console-check.py"],
                                       environment: ["SLUICE_URL": "http://127.0.0.1:\(sluice.port)", "SLUICE_TENANT": "web", "SLUICE_KEY": key,
                                                     "SLUICE_ADMIN_TOKEN": "console-admin", "ARTIFACTS": artifacts, "WORK": work],
                                       installedBy: "selenium (scripts/install-test-tools) and chromium-driver (scripts/install-deps)")
            try await waitUntil("the console check finishes", timeout: .seconds(600), interval: .milliseconds(200)) { !check.isRunning }
            #expect(check.exitStatus == 0, "\(check.log.suffix(4000))")
            let shots = (try? FileManager.default.contentsOfDirectory(atPath: artifacts)) ?? []
            for page in ["01-wrong-key", "02-files", "03-rejects", "04-records", "05-reports", "06-stream", "06-alerts", "07-overview"] {
                #expect(shots.contains(page + ".png"), "screenshot \(page).png")
            }
            #expect(try await sluice.terminate() == 0)
        } catch {
            _ = try? await sluice.terminate()
            throw error
        }
        try? FileManager.default.removeItem(atPath: work)
    }
}
