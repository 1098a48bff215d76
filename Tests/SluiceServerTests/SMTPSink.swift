import Foundation
import SluiceTestSupport

/// A real SMTP server on loopback: aiosmtpd running scripts/smtp-sink.py (both installed by scripts/test),
/// which writes every message it accepts, byte for byte, with its envelope.
final class SMTPSink: Sendable {
    enum Security {
        case plain
        /// STARTTLS offered and required, with `certificates`' server certificate.
        case startTLS(TestCertificates)
        /// TLS from the first byte.
        case implicitTLS(TestCertificates)
    }

    /// One message as the server received it.
    struct Message {
        let raw: String
        let envelope: [String: Any]

        /// The header lines, unfolded, in order.
        var headers: [(name: String, value: String)] {
            let head = raw.components(separatedBy: "\r\n\r\n").first ?? ""
            var lines: [String] = []
            for line in head.components(separatedBy: "\r\n") {
                if line.hasPrefix(" ") || line.hasPrefix("\t"), !lines.isEmpty { lines[lines.count - 1] += line } else { lines.append(line) }
            }
            return lines.compactMap { line in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
        }

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }

        /// A header's value with its RFC 2047 encoded words decoded.
        func decoded(_ name: String) -> String? {
            header(name).map { value in
                value.replacing(/\?=\s+=\?/, with: "?==?").replacing(/=\?UTF-8\?B\?([A-Za-z0-9+\/=]*)\?=/) { match in
                    String(decoding: Data(base64Encoded: String(match.output.1)) ?? Data(), as: UTF8.self)
                }
            }
        }

        var body: String { raw.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
    }

    let directory: String
    let port: Int
    private let daemon: TestDaemon

    init(_ security: Security = .plain, auth: String? = nil, deferring: Int = 0, rejecting: Bool = false) async throws {
        let root = SluiceProcess.packageRoot
        directory = NSTemporaryDirectory() + "smtp-sink-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var arguments = [root + "/scripts/smtp-sink.py", "--directory", directory, "--defer", "\(deferring)"]
        switch security {
        case .plain: break
        case .startTLS(let certificates): arguments += ["--starttls", certificates.certificate, certificates.key]
        case .implicitTLS(let certificates): arguments += ["--smtps", certificates.certificate, certificates.key]
        }
        if let auth { arguments += ["--auth", auth] }
        if rejecting { arguments.append("--reject") }
        let daemon = try TestDaemon(root + "/.build/test-tools/bin/python", arguments, installedBy: "aiosmtpd")
        self.daemon = daemon
        try await waitUntil("the SMTP sink listens", timeout: .seconds(60)) {
            guard daemon.isRunning else { throw TestClientError("the SMTP sink exited: \(daemon.log)") }
            return daemon.log.contains("port ")
        }
        guard let match = daemon.log.firstMatch(of: /port (\d+)/), let port = Int(match.output.1) else {
            throw TestClientError("the SMTP sink printed no port: \(daemon.log)")
        }
        self.port = port
    }

    var smarthost: String { "127.0.0.1:\(port)" }

    /// The messages received so far, in order.
    var messages: [Message] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.map { name in
            let base = directory + "/" + name.dropLast(4)
            let envelope = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + ".json")))) as? [String: Any]
            return Message(raw: Self.read(base + ".eml"), envelope: envelope ?? [:])
        }
    }

    func stop() async throws {
        try await daemon.stop()
    }

    private static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}
