import Foundation
import SluiceServer
import SluiceStore
import SluiceTestSupport
import Testing

/// Uploads ingested while they arrive: the rows commit with the file exactly once whether the upload
/// completes, stalls, breaks off or has to wait behind other files.
@Suite struct IngestDuringUploadTests {
    /// CSV rows for `tenantYAML`'s schema: sensors `\(prefix)\(i)` with `value`, about 30 bytes a row.
    static func csv(_ rows: Range<Int>, prefix: String = "s", value: Double = 1.5) -> [UInt8] {
        var text = "sensor,at,value,note\n"
        for row in rows { text += "\(prefix)\(row),1700000000000,\(value),n\(row)\n" }
        return Array(text.utf8)
    }

    /// Waits until a COPY into `acme.readings` runs: the file is being ingested while its upload is open.
    private func waitForCopy(_ sluice: InProcessSluice) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while try copies(sluice) == 0 {
            guard ContinuousClock.now < deadline else {
                let files = try sluice.query("SELECT string_agg(id || ' ' || state, ', ') AS files FROM sluice.files")
                    .first?.decode(String.self, "files")
                throw TestClientError("no COPY started during the upload; files: \(files ?? "none")")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func copies(_ sluice: InProcessSluice) throws -> Int {
        try count(sluice, PiecewiseUpload.activeCopies(into: #""acme"."readings""#))
    }

    private func count(_ sluice: InProcessSluice, _ sql: String) throws -> Int {
        try sluice.query(sql).first?.decode(Int.self, "n") ?? -1
    }

    /// Waits (up to 60 s) until `sluice_ingest_during_upload_total` for `outcome` reaches `value`; returns the last reading.
    /// The counter moves once the following ingest has given back its worker place.
    private func metric(_ sluice: InProcessSluice, outcome: String, reaches value: Int) async throws -> Int {
        let prefix = #"sluice_ingest_during_upload_total{tenant="acme",outcome="\#(outcome)"} "#
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let text = try await sluice.client.get("/metrics").text
            let reading = text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }.map { Int($0) } ?? 0
            if reading >= value || ContinuousClock.now > deadline { return reading }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Patience far beyond any pause of a loaded test machine, where the test does not stall on purpose.
    private static func patient(_ configuration: inout SluiceConfiguration) {
        configuration.ingest.uploadPatience = .seconds(120)
    }

    @Test func anUploadIsIngestedWhileItArrives() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: Self.patient) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let body = Self.csv(0..<40_000)
            let upload = try await PiecewiseUpload(sluice.client, tenant: "acme", key: key, name: "a.csv", body: body)
            try await waitForCopy(sluice)
            let response = try await upload.finish()
            #expect(response.status == 201, "\(response.text)")
            #expect(try response.json()["state"] as? String == "ingesting")
            let id = try #require(try response.json()["id"] as? String)

            let file = try await sluice.finished("acme", id, key: key)
            #expect(file["state"] as? String == "succeeded", "\(file)")
            #expect(file["rows_ingested"] as? Int == 40_000)
            #expect(file["attempts"] as? Int == 1)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings WHERE _sluice_source_id = '\(id)'") == 40_000)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM sluice.files WHERE id = '\(id)' AND ingest_started_at < received_at") == 1)
            let reports = try await sluice.send("GET", "/api/v1/tenants/acme/reports", token: key).json()["reports"] as? [[String: Any]]
            let report = try #require(reports?.first { $0["file_id"] as? String == id })
            #expect(report["rows_ingested"] as? Int == 40_000)
            #expect(report["queue_wait_seconds"] as? Double == 0)
            #expect(try await metric(sluice, outcome: "finished", reaches: 1) == 1)

            // The worker place and the tenant were given back: the next upload (small, written in one piece
            // when it ends) is followed as well, and keys it repeats are updated, not duplicated.
            let again = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=b.csv", token: key,
                                              body: .bytes(Self.csv(39_990..<40_010, value: 7.5)))
            #expect(try again.json()["state"] as? String == "ingesting", "\(again.text)")
            let second = try await sluice.finished("acme", try #require(try again.json()["id"] as? String), key: key)
            #expect(second["state"] as? String == "succeeded", "\(second)")
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings") == 40_010)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings WHERE value = 7.5") == 20)
            #expect(try await metric(sluice, outcome: "finished", reaches: 2) == 2)
        }
    }

    @Test func aStalledUploadLeavesItsFileToTheQueue() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.ingest.uploadPatience = .milliseconds(300) }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let body = Self.csv(0..<40_000)
            let upload = try await PiecewiseUpload(sluice.client, tenant: "acme", key: key, name: "a.csv", body: body)
            // Longer than the patience: the ingest that followed the upload rolls back and stops holding a
            // worker and a transaction.
            #expect(try await metric(sluice, outcome: "abandoned", reaches: 1) == 1)
            #expect(try copies(sluice) == 0)
            let response = try await upload.finish()
            #expect(response.status == 201, "\(response.text)")
            #expect(try response.json()["state"] as? String == "received")
            let id = try #require(try response.json()["id"] as? String)
            let file = try await sluice.finished("acme", id, key: key)
            #expect(file["state"] as? String == "succeeded", "\(file)")
            #expect(file["attempts"] as? Int == 1)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings WHERE _sluice_source_id = '\(id)'") == 40_000)
        }
    }

    @Test(arguments: [false, true]) func anUploadCutOffMidwayLeavesNothingBehind(reset: Bool) async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: Self.patient) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let body = Self.csv(0..<40_000)
            let upload = try await PiecewiseUpload(sluice.client, tenant: "acme", key: key, name: "a.csv", body: body)
            try await waitForCopy(sluice)
            upload.cutOff(reset: reset)
            let deadline = ContinuousClock.now + .seconds(50)  // before the idle timeout (60 s) would end it
            while try copies(sluice) > 0 || sluice.stagedFiles("acme").count > 0 {
                guard ContinuousClock.now < deadline else {
                    throw TestClientError("the cut-off upload left its ingest (\(try copies(sluice)) COPY) or its file behind: \(sluice.stagedFiles("acme"))")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM sluice.files") == 0)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings") == 0)
            #expect(try await metric(sluice, outcome: "abandoned", reaches: 1) == 1)

            let next = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=b.csv", token: key,
                                             body: .bytes(Self.csv(0..<10)))
            #expect(try next.json()["state"] as? String == "ingesting", "\(next.text)")
            let file = try await sluice.finished("acme", try #require(try next.json()["id"] as? String), key: key)
            #expect(file["rows_ingested"] as? Int == 10)
        }
    }

    /// A file that completes its upload while another one is being followed waits in the queue (no worker
    /// is free); the followed one then finishes its upload behind it and must not commit first.
    @Test func aFileWaitingInTheQueueGoesFirst() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: Self.patient) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let body = Self.csv(0..<40_000, value: 2.5)
            let later = try await PiecewiseUpload(sluice.client, tenant: "acme", key: key, name: "later.csv", body: body)
            try await waitForCopy(sluice)

            let earlier = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=earlier.csv", token: key,
                                                body: .bytes(Self.csv(39_000..<41_000, value: 1.5)))
            #expect(try earlier.json()["state"] as? String == "received", "\(earlier.text)")
            let earlierID = try #require(try earlier.json()["id"] as? String)

            let response = try await later.finish()
            #expect(try response.json()["state"] as? String == "received", "\(response.text)")
            let laterID = try #require(try response.json()["id"] as? String)
            for id in [earlierID, laterID] {
                let file = try await sluice.finished("acme", id, key: key)
                #expect(file["state"] as? String == "succeeded", "\(file)")
            }
            #expect(try count(sluice, """
                SELECT count(*)::int AS n FROM sluice.files a, sluice.files b
                WHERE a.id = '\(earlierID)' AND b.id = '\(laterID)' AND a.ingest_finished_at <= b.ingest_started_at
                """) == 1)
            // The later file's values win for the keys both hold.
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings") == 41_000)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings WHERE value = 2.5") == 40_000)
            #expect(try await metric(sluice, outcome: "abandoned", reaches: 1) == 1)
        }
    }

    /// The same content again (not forced) is answered with the existing file; what was read of it while it
    /// arrived is rolled back and nothing is ingested twice.
    @Test func aDuplicateUploadIsAnsweredWithTheFirstFile() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: Self.patient) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let body = Self.csv(0..<40_000)
            let first = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=a.csv", token: key, body: .bytes(body))
            let id = try #require(try first.json()["id"] as? String, "\(first.text)")
            _ = try await sluice.finished("acme", id, key: key)
            #expect(try await metric(sluice, outcome: "finished", reaches: 1) == 1)

            let again = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=again.csv", token: key, body: .bytes(body))
            #expect(again.status == 200, "\(again.text)")
            #expect(try again.json()["id"] as? String == id)
            #expect(try again.json()["duplicate"] as? Bool == true)
            #expect(try await metric(sluice, outcome: "abandoned", reaches: 1) == 1)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM sluice.files") == 1)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings") == 40_000)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM sluice.ingestion_reports") == 1)
        }
    }

    /// With two workers, a file claimed while another upload of its tenant is being followed waits on the
    /// tenant's lock (writing keys beside that ingest could deadlock the two and fail an accepted file),
    /// commits first, and the later upload's values win.
    @Test func aClaimedFileWaitsForTheIngestFollowingAnUpload() async throws {
        try await InProcessSluice.with(ingestWorkers: 2, configure: Self.patient) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let body = Self.csv(0..<40_000, value: 2.5)
            let later = try await PiecewiseUpload(sluice.client, tenant: "acme", key: key, name: "later.csv", body: body)
            try await waitForCopy(sluice)

            // Keys the followed ingest has yet to write, then keys it already wrote.
            let overlapping = Self.csv(25_000..<26_000) + Self.csv(0..<1_000).drop { $0 != UInt8(ascii: "\n") }.dropFirst()
            let earlier = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=earlier.csv", token: key,
                                                body: .bytes(Array(overlapping)))
            #expect(try earlier.json()["state"] as? String == "received", "\(earlier.text)")
            let earlierID = try #require(try earlier.json()["id"] as? String)
            let deadline = ContinuousClock.now + .seconds(120)
            while try count(sluice, """
                SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'
                """) == 0 {
                guard ContinuousClock.now < deadline else { throw TestClientError("the claimed file did not wait for the tenant's lock") }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try copies(sluice) == 1)

            let response = try await later.finish()
            #expect(try response.json()["state"] as? String == "received", "\(response.text)")
            let laterID = try #require(try response.json()["id"] as? String)
            for id in [earlierID, laterID] {
                let file = try await sluice.finished("acme", id, key: key)
                #expect(file["state"] as? String == "succeeded", "\(file)")
                #expect(file["attempts"] as? Int == 1, "\(file)")
            }
            #expect(try count(sluice, """
                SELECT count(*)::int AS n FROM sluice.files a, sluice.files b
                WHERE a.id = '\(earlierID)' AND b.id = '\(laterID)' AND a.ingest_finished_at <= b.ingest_started_at
                """) == 1)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings") == 40_000)
            #expect(try count(sluice, "SELECT count(*)::int AS n FROM acme.readings WHERE value = 2.5") == 40_000)
        }
    }
}
