import Foundation

/// A certificate authority of its own and a server certificate it signed for `localhost` and `127.0.0.1`
/// (EC P-256 keys, valid for two days), made with openssl for TLS tests.
public struct TestCertificates: Sendable {
    /// The authority's certificate: what clients trust.
    public let authority: String
    /// The server's certificate and its unencrypted key.
    public let certificate: String
    public let key: String

    /// Makes them in `directory` under names starting with `name`.
    public static func make(in directory: String, name: String) throws -> TestCertificates {
        let base = "\(directory)/\(name)"
        let extensions = base + "-extensions.cnf"
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        let steps = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + "-ca.key",
             "-out", base + "-ca.pem", "-days", "2", "-subj", "/CN=Sluice test authority \(name)"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key",
             "-out", base + ".csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", base + ".csr", "-CA", base + "-ca.pem", "-CAkey", base + "-ca.key", "-CAcreateserial",
             "-out", base + ".pem", "-days", "2", "-extfile", extensions],
        ]
        for arguments in steps {
            let result = try TestTool.run("/usr/bin/openssl", arguments, installedBy: "openssl")
            guard result.status == 0 else { throw TestClientError("openssl \(arguments[0]) failed: \(result.output)") }
        }
        return TestCertificates(authority: base + "-ca.pem", certificate: base + ".pem", key: base + ".key")
    }
}
