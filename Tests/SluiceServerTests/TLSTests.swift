import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

/// HTTPS through libmicrohttpd's TLS, with a certificate read again on SIGHUP; and a PostgreSQL store reached
/// over TLS with its certificate verified.
@Suite(.serialized) struct TLSTests {
    private static let admin = "tls-admin"

    /// `curl` with `arguments`; its exit status and output (stdout and stderr).
    private func curl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await onThread { try TestTool.run("/usr/bin/curl", ["-sS", "--max-time", "30"] + arguments, installedBy: "curl") }
    }

    @Test func httpsWithACertificateReadAgainOnSIGHUP() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-tls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try TestCertificates.make(in: directory, name: "first")
        let second = try TestCertificates.make(in: directory, name: "second")
        let (certificate, key) = (directory + "/server.pem", directory + "/server.key")
        try FileManager.default.copyItem(atPath: first.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: first.key, toPath: key)
        let sluice = try SluiceProcess(serve: ["--database-url", try await TestPostgres.makeDatabase(), "--data-dir", directory + "/data",
                                               "--tls-cert", certificate, "--tls-key", key],
                                       environment: ["SLUICE_ADMIN_TOKEN": Self.admin])
        try await sluice.waitUntilReady(onOperationsListener: true)
        let url = "https://localhost:\(sluice.port)"

        let health = try await curl(["--cacert", first.authority, url + "/healthz"])
        #expect(health.status == 0 && health.output.hasPrefix(#"{"status":"ok"}"#), "\(health.output)")
        // Plain HTTP to the HTTPS listener fails cleanly, and the server carries on.
        let plain = try await curl(["http://127.0.0.1:\(sluice.port)/healthz"])
        #expect(plain.status != 0 && !plain.output.contains("status"), "\(plain)")
        // Answers written straight to the connection go through TLS too: an upload cut at its size limit while
        // its body arrives, and an error libmicrohttpd answers itself.
        let tenant = tenantYAML("small", constraints: "constraints: {max_file_size: 1KiB}")
        let created = try await curl(["--cacert", first.authority, "-H", "Authorization: Bearer \(Self.admin)",
                                      "-H", "Content-Type: application/yaml", "--data-binary", tenant, url + "/api/v1/tenants"])
        let tenantKey = try #require(created.output.firstMatch(of: /"api_key":"(sluice_[0-9a-f]+)"/)?.1, "\(created.output)")
        let body = directory + "/big.csv"
        try Data(repeating: UInt8(ascii: "a"), count: 512 << 10).write(to: URL(fileURLWithPath: body))
        let tooLarge = try await curl(["--cacert", first.authority, "-H", "Authorization: Bearer \(tenantKey)",
                                       "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + body,
                                       url + "/api/v1/tenants/small/files?name=big.csv"])
        #expect(tooLarge.output.contains(#""code":"file_too_large""#), "\(tooLarge)")
        let malformed = try await onThread {
            try TestTool.run("/usr/bin/openssl", ["s_client", "-quiet", "-connect", "127.0.0.1:\(sluice.port)", "-CAfile", first.authority],
                             input: Array("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".utf8), installedBy: "openssl")
        }
        #expect(malformed.output.contains("HTTP/1.1 400") && malformed.output.contains(#""code":"malformed_request""#), "\(malformed.output)")

        // A renewed certificate is served from the next handshake on after SIGHUP.
        for (from, to) in [(second.certificate, certificate), (second.key, key)] {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        kill(sluice.process.processIdentifier, SIGHUP)
        try await waitUntil("the renewed certificate is served", interval: .milliseconds(200)) {
            try await curl(["--cacert", second.authority, url + "/healthz"]).status == 0
        }
        #expect(try await curl(["--cacert", first.authority, url + "/healthz"]).status != 0, "the old authority no longer verifies")
        // One that cannot be used is refused, and the current one stays.
        try "not a certificate\n".write(toFile: certificate, atomically: true, encoding: .utf8)
        kill(sluice.process.processIdentifier, SIGHUP)
        try await waitUntil("the reload is refused", interval: .milliseconds(100)) { sluice.log.contains("TLS certificate not reloaded") }
        #expect(try await curl(["--cacert", second.authority, url + "/healthz"]).status == 0)
        #expect(try await sluice.terminate() == 0)
    }

    /// A PostgreSQL with `ssl = on` (a certificate for localhost from an authority of the test's) is reached with
    /// `sslmode=verify-full`; with another authority, Sluice refuses to start, saying why.
    @Test func aStoreOverTLSWithItsCertificateVerified() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-pg-tls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try TestCertificates.make(in: directory, name: "postgres")
        let stranger = try TestCertificates.make(in: directory, name: "stranger")
        try await TestPostgres.withTemporaryTLSCluster(certificate: server.certificate, key: server.key) { cluster, port in
            let password = try #require(try String(contentsOfFile: cluster.passwordFile, encoding: .utf8)
                .split(separator: "\n").first { $0.contains(":sluice_service:") }?.split(separator: ":").last)
            func url(_ authority: String) -> String {
                "postgresql://sluice_service:\(password)@localhost:\(port)/sluice?sslmode=verify-full&sslrootcert=\(authority)"
            }
            let refused = try SluiceProcess(serve: ["--database-url", url(stranger.authority), "--data-dir", directory + "/refused"])
            let process = refused.process
            try await onThread { process.waitUntilExit() }
            #expect(process.terminationStatus != 0)
            #expect(refused.log.contains("certificate verify failed"), "\(refused.log)")

            let sluice = try SluiceProcess(serve: ["--database-url", url(server.authority), "--data-dir", directory + "/data"])
            try await sluice.waitUntilReady()
            let admin = try PostgresConnection(connectionString: try cluster.superuserConnectionString())
            defer { admin.close() }
            let encrypted = try admin.query("""
                SELECT count(*) FILTER (WHERE s.ssl)::int AS tls, count(*)::int AS total FROM pg_stat_ssl s
                JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'sluice_service'
                """).first
            let total = try #require(try encrypted?.decode(Int.self, "total"))
            let tls = try encrypted?.decode(Int.self, "tls")
            #expect(total > 0 && tls == total, "every connection of Sluice's is encrypted")
            #expect(try await sluice.terminate() == 0)
        }
    }
}
