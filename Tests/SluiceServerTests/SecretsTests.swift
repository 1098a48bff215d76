import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

/// No key, token or password reaches a log line, an error, another process's environment or the process's
/// visible arguments; generated credentials are written to `DATA_DIR/credentials/` for their owner alone.
@Suite(.serialized) struct SecretsTests {
    @Test func noSecretReachesTheLogTheArgumentsOrAnError() async throws {
        try await TestPostgres.withTemporaryCluster { cluster in
            _ = try await cluster.start()
            let pgpass = try String(contentsOfFile: cluster.passwordFile, encoding: .utf8)
            let password = try #require(pgpass.split(separator: "\n").first { $0.contains(":sluice_service:") }?
                .split(separator: ":").last.map(String.init))
            let url = "postgresql://sluice_service:\(password)@/sluice?host=\(cluster.socketDirectory)"
            let dataDirectory = try TestPostgres.makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dataDirectory) }

            // The `--option=value` form, which a process's arguments show as one word.
            let sluice = try SluiceProcess(serve: ["--database-url=\(url)", "--data-dir", dataDirectory, "--config", "examples"],
                                           environment: ["SLUICE_ADMIN_TOKEN": ""])
            try await sluice.waitUntilReady()

            // The staging directory and the tenants' are closed to other users (the root's group bits are at most the
            // mask of the sandbox user's ACL entry: search only).
            #expect((fileMode(dataDirectory + "/staging") ?? 0o777) & 0o067 == 0)
            for tenant in ["tenant-a", "tenant-b"] { #expect((fileMode(dataDirectory + "/staging/" + tenant) ?? 0o777) & 0o077 == 0) }

            // Generated credentials are in files of their own, the owner's alone, and they work.
            let credentials = dataDirectory + "/credentials"
            #expect(fileMode(credentials) == 0o700)
            var secrets = [password]
            for name in ["admin-token", "tenant-tenant-a.api-key", "tenant-tenant-b.api-key"] {
                #expect(fileMode(credentials + "/" + name) == 0o600, "\(name)")
                secrets.append(try String(contentsOfFile: credentials + "/" + name, encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let (token, keyA) = (secrets[1], secrets[2])
            #expect(try await sluice.client.get("/api/v1/tenants", headers: [("Authorization", "Bearer \(token)")]).status == 200)
            #expect(try await sluice.client.get("/api/v1/tenants/tenant-a/files", headers: [("Authorization", "Bearer \(keyA)")]).status == 200)
            // Rotating a key removes the file whose key stopped working.
            let rotated = try await sluice.client.send("POST", "/api/v1/tenants/tenant-b/api-keys", headers: [("Authorization", "Bearer \(token)")])
            secrets.append(try #require(try rotated.json()["api_key"] as? String))
            #expect(!FileManager.default.fileExists(atPath: credentials + "/tenant-tenant-b.api-key"))
            _ = try await sluice.client.get("/api/v1/tenants", headers: [("Authorization", "Bearer sluice_wrong")])

            // Other local users read every process's arguments: the password there is overwritten.
            let arguments = try String(contentsOfFile: "/proc/\(sluice.process.processIdentifier)/cmdline", encoding: .utf8)
            #expect(arguments.contains("--database-url") && !arguments.contains(password))

            #expect(try await sluice.terminate() == 0)
            let log = sluice.log
            #expect(log.contains("sluice_service:***@"), "the store's URL is shown redacted")
            #expect(log.contains(credentials + "/admin-token") && log.contains(credentials + "/tenant-tenant-a.api-key"),
                    "the log says where the credentials are")

            // A start that fails on a wrong password does not show it either.
            let wrong = "wrong\(UInt64.random(in: 1...UInt64.max))"
            let failing = try SluiceProcess(serve: ["--database-url", url.replacingOccurrences(of: password, with: wrong),
                                                    "--data-dir", dataDirectory])
            let process = failing.process
            try await onThread { process.waitUntilExit() }
            #expect(process.terminationStatus != 0)
            #expect(failing.log.contains("password authentication failed"), "\(failing.log)")

            for secret in secrets {
                #expect(!log.contains(secret) && !failing.log.contains(secret), "a secret is in the log")
            }
            #expect(!failing.log.contains(wrong))
        }
    }

    /// The embedded server's processes get a scrubbed environment: nothing of Sluice's reaches them.
    @Test func helperProcessesGetAScrubbedEnvironment() async throws {
        let dataDirectory = try TestPostgres.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let token = "admin-\(UInt64.random(in: 1...UInt64.max))"
        let sluice = try SluiceProcess(serve: ["--data-dir", dataDirectory], environment: ["SLUICE_ADMIN_TOKEN": token])
        try await sluice.waitUntilReady()
        let postmaster = try String(contentsOfFile: dataDirectory + "/postgres/postmaster.pid", encoding: .utf8)
            .split(separator: "\n").first.map(String.init) ?? ""
        let environment = try String(contentsOfFile: "/proc/\(postmaster)/environ", encoding: .utf8)
            .split(separator: "\0").map(String.init)
        #expect(!environment.isEmpty)
        #expect(!environment.contains { $0.hasPrefix("SLUICE_") || $0.contains(token) }, "\(environment)")
        #expect(try await sluice.terminate() == 0)
        #expect(!sluice.log.contains(token))
    }
}

