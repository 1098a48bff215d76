import Foundation
import Logging
import SluiceCore
import SluiceMetrics
import SluiceOutbound
import SluiceStore
import SluiceTestSupport
import Testing

/// Email receivers over libcurl's SMTP to a real SMTP server on loopback (aiosmtpd): subject, body and headers;
/// plain, STARTTLS (a certificate the test makes) with AUTH, and SMTPS; a label holding a line break adds no
/// header; a `451` is retried, a `550` is not; and end to end, a failing file's alert by webhook and email.
@Suite struct EmailTests {
    private static let ten = Date(timeIntervalSince1970: 1_796_551_200)

    private func receiver(_ sink: SMTPSink, pool: PostgresConnectionPool, to: [String] = ["oncall@example.com", "Ops Team <ops@example.com>"],
                          configure: (inout EmailReceiver.Configuration) -> Void = { _ in }) throws -> EmailReceiver {
        var configuration = EmailReceiver.Configuration(name: "mail", smarthost: sink.smarthost,
                                                        from: try #require(EmailAddress("Sluice Alerts <alerts@sluice.example>")),
                                                        to: try to.map { try #require(EmailAddress($0)) })
        configuration.requireTLS = false
        configuration.retry.initialBackoff = .milliseconds(20)
        configuration.retry.deadline = .seconds(60)
        configure(&configuration)
        return EmailReceiver(configuration: configuration, mailer: CurlMailClient(), log: DeliveryLog(pool: pool),
                             metrics: NotificationMetrics(registry: MetricsRegistry()), externalURL: "http://sluice.example:8080",
                             logger: Logger(label: "test"))
    }

    /// Two firing alerts of one group, `tenant` labelled as given.
    private func group(tenant: String = "tenant-a") -> AlertGroup {
        let alerts = ["sensor-1", "sensor-2"].enumerated().map { index, sensor in
            AlertNotification(status: .firing, labels: ["alertname": "RejectsHigh", "tenant": tenant, "severity": "ticket", "sensor": sensor],
                              annotations: ["summary": "\(tenant) rejects half its rows"], startsAt: Self.ten.addingTimeInterval(Double(index)),
                              endsAt: nil, value: 0.5, source: "alert:RejectsHigh", actions: [])
        }
        return AlertGroup(receiver: "mail", key: "{}:{alertname=\"RejectsHigh\", tenant=\"\(tenant)\"}",
                          labels: ["alertname": "RejectsHigh", "tenant": tenant], alerts: alerts)
    }

    private func pool() async throws -> PostgresConnectionPool {
        let pool = try await TestPostgres.makePool()
        _ = try await PlatformSchema.migrator.migrate(using: pool)
        return pool
    }

    private func attempts(_ pool: PostgresConnectionPool) async throws -> [DeliveryLog.Attempt] {
        try await DeliveryLog(pool: pool).list(receiver: "mail", from: Date(timeIntervalSince1970: 0), to: Date().addingTimeInterval(86_400), limit: 10).reversed()
    }

    @Test func anEmailReachesARealSMTPServerWithItsSubjectBodyAndHeaders() async throws {
        let sink = try await SMTPSink()
        let pool = try await pool()
        let mail = try receiver(sink, pool: pool)
        #expect(try await mail.deliver(group(), whenDone: { _ in }) == .queued)
        try await waitUntil("the message arrives", timeout: .seconds(60)) { !sink.messages.isEmpty }
        let message = try #require(sink.messages.first)
        #expect(message.header("Subject") == "[FIRING:2] RejectsHigh tenant-a")
        #expect(message.header("From") == "Sluice Alerts <alerts@sluice.example>")
        #expect(message.header("To") == "oncall@example.com, Ops Team <ops@example.com>")
        #expect(message.header("MIME-Version") == "1.0")
        #expect(message.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(message.header("Date")?.wholeMatch(of: /[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000/) != nil)
        #expect(message.header("Message-ID")?.wholeMatch(of: /<[0-9a-f-]{36}@sluice\.example>/) != nil)
        #expect(message.envelope["mail_from"] as? String == "alerts@sluice.example")
        #expect(message.envelope["rcpt_tos"] as? [String] == ["oncall@example.com", "ops@example.com"])
        #expect(message.envelope["tls"] as? Bool == false)
        let body = message.body
        for expected in ["2 firing, 0 resolved in the group alertname=RejectsHigh, tenant=tenant-a", "* RejectsHigh for tenant tenant-a",
                         "Value:    0.5", "Started:  2026-12-06T10:00:00.000Z", "Started:  2026-12-06T10:00:01.000Z", "sensor = sensor-1",
                         "sensor = sensor-2", "summary = tenant-a rejects half its rows",
                         "Link:     http://sluice.example:8080/api/v1/alerts/history?limit=100&tenant=tenant"] {
            #expect(body.contains(expected), "\(expected) in\n\(body)")
        }
        try await waitUntil("the delivery is logged", timeout: .seconds(60)) { try await attempts(pool).last?.outcome == "delivered" }
        let delivered = try #require(try await attempts(pool).last)
        #expect(delivered.smtpReply == 250 && delivered.integration == "email" && delivered.httpStatus == nil)
        mail.stop()
        try await sink.stop()
        await pool.close()
    }

    @Test func startTLSWithAuthAndImplicitTLSAreUsedAndAPlainServerIsRefusedWhenTLSIsRequired() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "smtp-tls")
        let certificates = try TestCertificates.make(in: directory, name: "smtp")
        let pool = try await pool()
        let starttls = try await SMTPSink(.startTLS(certificates), auth: "sluice:s3cret")
        let secure = try receiver(starttls, pool: pool) {
            $0.requireTLS = true
            $0.caFile = certificates.authority
            $0.authUsername = "sluice"
            $0.authPassword = "s3cret"
            $0.smarthost = "localhost:\(starttls.port)"
        }
        _ = try await secure.deliver(group(), whenDone: { _ in })
        try await waitUntil("the message arrives over STARTTLS", timeout: .seconds(60)) { !starttls.messages.isEmpty }
        #expect(starttls.messages.first?.envelope["tls"] as? Bool == true)
        #expect(starttls.messages.first?.envelope["login"] as? String == "sluice")
        #expect(starttls.messages.first?.header("Subject") == "[FIRING:2] RejectsHigh tenant-a")

        let smtps = try await SMTPSink(.implicitTLS(certificates))
        let implicit = try receiver(smtps, pool: pool) {
            $0.implicitTLS = true
            $0.caFile = certificates.authority
            $0.smarthost = "localhost:\(smtps.port)"
        }
        _ = try await implicit.deliver(group(), whenDone: { _ in })
        try await waitUntil("the message arrives over SMTPS", timeout: .seconds(60)) { !smtps.messages.isEmpty }
        #expect(smtps.messages.first?.envelope["tls"] as? Bool == true)

        // A server offering no STARTTLS gets nothing when TLS is required, and that is not retried.
        let plain = try await SMTPSink()
        let strict = try receiver(plain, pool: pool) { $0.requireTLS = true }
        _ = try await strict.deliver(group(), whenDone: { _ in })
        try await waitUntil("the refusal is logged", timeout: .seconds(60)) {
            try await attempts(pool).contains { $0.outcome == "failed" }
        }
        let failed = try #require(try await attempts(pool).first { $0.outcome == "failed" })
        #expect(failed.error?.contains("tls_failed") == true && failed.attempt == 1, "\(String(describing: failed.error))")
        #expect(plain.messages.isEmpty)
        for receiver in [secure, implicit, strict] { receiver.stop() }
        for sink in [starttls, smtps, plain] { try await sink.stop() }
        await pool.close()
    }

    @Test func aLabelWithALineBreakCannotInjectAHeader() async throws {
        let sink = try await SMTPSink()
        let pool = try await pool()
        let mail = try receiver(sink, pool: pool, to: ["oncall@example.com"])
        let hostile = "tenant-a\r\nBcc: thief@evil.example\r\nSubject: owned"
        _ = try await mail.deliver(group(tenant: hostile), whenDone: { _ in })
        try await waitUntil("the message arrives", timeout: .seconds(60)) { !sink.messages.isEmpty }
        let message = try #require(sink.messages.first)
        #expect(!message.headers.contains { $0.name.lowercased() == "bcc" }, "\(message.raw)")
        #expect(message.headers.filter { $0.name.lowercased() == "subject" }.count == 1)
        #expect(message.decoded("Subject") == "[FIRING:2] RejectsHigh \(hostile)", "the value is kept, encoded")
        #expect(message.envelope["rcpt_tos"] as? [String] == ["oncall@example.com"])
        #expect(!message.raw.contains("\r\nBcc:") && message.body.contains("tenant = tenant-a\\r\\nBcc: thief@evil.example"))
        mail.stop()
        try await sink.stop()
        await pool.close()
    }

    @Test func aDeferral451IsRetriedAndARefusal550IsNot() async throws {
        let pool = try await pool()
        let deferring = try await SMTPSink(deferring: 2)
        let patient = try receiver(deferring, pool: pool)
        _ = try await patient.deliver(group(), whenDone: { _ in })
        try await waitUntil("delivered after two deferrals", timeout: .seconds(60)) { try await attempts(pool).last?.outcome == "delivered" }
        #expect(try await attempts(pool).map(\.outcome) == ["retrying", "retrying", "delivered"])
        #expect(try await attempts(pool).map(\.smtpReply) == [451, 451, 250])
        #expect(deferring.messages.count == 1, "delivered once")
        patient.stop()
        try await deferring.stop()

        let pool2 = try await self.pool()
        let rejecting = try await SMTPSink(rejecting: true)
        let refused = try receiver(rejecting, pool: pool2)
        _ = try await refused.deliver(group(), whenDone: { _ in })
        try await waitUntil("the refusal is logged", timeout: .seconds(60)) { try await attempts(pool2).last?.outcome == "failed" }
        #expect(try await attempts(pool2).map(\.outcome) == ["failed"])
        #expect(try await attempts(pool2).first?.smtpReply == 550)
        refused.stop()
        try await rejecting.stop()
        await pool.close()
        await pool2.close()
    }
}
