import Foundation
import SluiceCompression
import SluiceStore
import SluiceTestSupport
import Testing

/// Uploaded files flowing through the batch ingest engine into tenant tables.
@Suite struct IngestTests {
    /// A gzip file within the inflation ratio but inflating past the tenant's `max_file_size` fails with the
    /// limit named, and nothing of it is loaded (only a global 64 GiB bounded it before: 10 GB went in).
    @Test func aGzipFileInflatingPastTheTenantsFileSizeFails() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("small", constraints: "constraints: {max_file_size: 2MiB}"),
                                                    contentType: "application/yaml")
            var text = "sensor,at,value,note\n"
            var generator = SystemRandomNumberGenerator()
            while text.utf8.count < 6 << 20 {
                text += "s\(UInt32.random(in: 0 ... .max, using: &generator)),1700000000000,\(UInt16.random(in: 0 ... .max, using: &generator)).5,n\n"
            }
            let compressed = try Gzip.compress(Array(text.utf8))
            #expect(compressed.count < 2 << 20 && text.utf8.count / compressed.count < 200)
            let response = try await sluice.send("POST", "/api/v1/tenants/small/files?name=big.csv.gz", token: key, body: .bytes(compressed))
            let id = try #require(try response.json()["id"] as? String, "\(response.text)")
            let file = try await sluice.finished("small", id, key: key)
            #expect(file["state"] as? String == "failed", "\(file)")
            #expect((file["error"] as? String)?.contains("2097152") == true, "the limit is named: \(file)")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM small.readings").first?.decode(Int.self, "n") == 0)
        }
    }

    /// A raw NUL in one row (in a CSV field, or outside a JSON string) rejects that row and keeps the rest;
    /// before, the rejected row's raw text failed the COPY into the rejects, and with it the whole file.
    @Test func aNULByteRejectsItsRowOnly() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("nul"), contentType: "application/yaml")
            var csv = "sensor,at,value,note\n"
            for row in 0..<2_000 { csv += "s\(row),1700000000000,1.5,n\n" }
            csv += "bad,1700000000000,1.5,a\u{0}b\n"
            let file = try await sluice.uploadAndWait("nul", key: key, name: "a.csv", csv).file
            #expect(file["state"] as? String == "partial", "\(file)")
            #expect(file["rows_ingested"] as? Int == 2_000)
            let id = try #require(file["id"] as? String)
            let rejects = try await sluice.send("GET", "/api/v1/tenants/nul/files/\(id)/rejects", token: key).json()
            let reject = try #require((rejects["rejects"] as? [[String: Any]])?.first)
            #expect(reject["reason"] as? String == "invalid_text")
            #expect((reject["raw"] as? String)?.contains("a\u{FFFD}b") == true, "\(reject)")

            var ndjson = ""
            for row in 0..<2_000 { ndjson += "{\"sensor\": \"j\(row)\", \"at\": 1700000000000, \"value\": 1}\n" }
            ndjson += "{\"sensor\": \"bad\", \u{0}\"at\": 1}\n"
            let json = try await sluice.uploadAndWait("nul", key: key, name: "b.ndjson", ndjson).file
            #expect(json["state"] as? String == "partial", "\(json)")
            #expect(json["rows_ingested"] as? Int == 2_000)
            #expect((json["error"] as? String)?.contains("SQL") != true)
        }
    }

    /// A file whose ingests keep dying (here: five expired leases, as if the process crashed each time) is not
    /// leased forever: the next claim fails it with `too_many_attempts` and its last error, and a replay retries it.
    @Test func aFileTakenTooOftenFailsAndCanBeReplayed() async throws {
        try await InProcessSluice.with(ingestWorkers: 1, configure: { $0.ingest.maxAttempts = 5 }) { sluice in
            // A schedule that never fires in the test: the file waits as `received` until the test hands it over.
            let key = try await sluice.createTenant(tenantYAML("crashy") + "\nservice_agreement: {schedule: \"0 0 1 1 *\"}",
                                                    contentType: "application/yaml")
            let id = try await sluice.upload("crashy", key: key, name: "a.csv", "sensor,at,value,note\ns1,1700000000000,1.5,n\n")
            _ = try sluice.query("""
                UPDATE sluice.files SET state = 'ingesting', lease_owner = 'gone/0', lease_expires_at = now() - interval '1 second',
                    attempts = 5, error = 'connection to the store was lost' WHERE id = '\(id)'
                """)
            let failed = try await sluice.finished("crashy", id, key: key)
            #expect(failed["state"] as? String == "failed")
            let error = try #require(failed["error"] as? String)
            #expect(error.hasPrefix("too_many_attempts: "), "\(error)")
            #expect(error.contains("last error: connection to the store was lost"), "\(error)")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM sluice.ingestion_reports WHERE source_id = '\(id)'")
                .first?.decode(Int.self, "n") == 1)

            let replay = try await sluice.send("POST", "/api/v1/tenants/crashy/files/\(id)/replay", token: key)
            #expect(replay.status == 202, "\(replay.text)")
            let file = try await sluice.finished("crashy", id, key: key)
            #expect(file["state"] as? String == "succeeded", "\(file)")
            #expect(file["attempts"] as? Int == 1)
        }
    }

    @Test func csvRowsLandOnceWithLineageAndRejectsAreAccounted() async throws {
        try await InProcessSluice.with(ingestWorkers: 2) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let csv = """
                sensor,at,value,note
                s1,1700000000000,1.5,
                s2,1700000000000,2.5,ok
                s3,not-a-time,3.5,bad
                s4,1700000000000,,missing value
                s1,1700000000000,9.5,last wins

                """
            let id = try await sluice.upload("acme", key: key, name: "a.csv", csv)
            let file = try await sluice.finished("acme", id, key: key)
            #expect(file["state"] as? String == "partial")
            #expect(file["rows_total"] as? Int == 5)
            #expect(file["rows_ingested"] as? Int == 3)
            #expect(file["rows_rejected"] as? Int == 2)

            let loaded = try sluice.query("SELECT sensor, value, note, _sluice_source_id FROM acme.readings ORDER BY sensor")
            #expect(loaded.count == 2)
            #expect(try loaded.first?.decode(Double.self, "value") == 9.5)
            #expect(try loaded.first?.decode(String.self, "_sluice_source_id") == id)

            let rejects = try await sluice.send("GET", "/api/v1/tenants/acme/files/\(id)/rejects", token: key).json()
            let list = try #require(rejects["rejects"] as? [[String: Any]])
            #expect(list.count == 2)
            #expect(list.map { $0["field"] as? String } == ["at", "value"])
            #expect(list.allSatisfy { ($0["raw"] as? String)?.isEmpty == false })

            // Re-upload with changed values: upserted, not duplicated.
            let again = try await sluice.upload("acme", key: key, name: "b.csv",
                                         "sensor,at,value,note\ns1,1700000000000,7.5,again\n", force: true)
            let second = try await sluice.finished("acme", again, key: key)
            #expect(second["state"] as? String == "succeeded", "\(second)")
            let updated = try sluice.query("SELECT count(*)::int AS n, max(value) FILTER (WHERE sensor = 's1') AS v FROM acme.readings")
            #expect(try updated.first?.decode(Int.self, "n") == 2)
            #expect(try updated.first?.decode(Double.self, "v") == 7.5)
        }
    }

    @Test func aFileWithOnlyBadRowsFailsAndCanBeReplayed() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let id = try await sluice.upload("acme", key: key, name: "bad.ndjson",
                                      "{\"sensor\": \"s1\", \"at\": \"yesterday\", \"value\": 1}\n{\"sensor\": \"s2\"}\n")
            let file = try await sluice.finished("acme", id, key: key)
            #expect(file["state"] as? String == "failed")
            #expect(file["rows_ingested"] as? Int == 0)
            #expect((file["error"] as? String)?.isEmpty == false)
            let replay = try await sluice.send("POST", "/api/v1/tenants/acme/files/\(id)/replay", token: key)
            #expect(replay.status == 202)
            let again = try await sluice.finished("acme", id, key: key)
            #expect(again["state"] as? String == "failed")
            // A replay starts the attempts afresh; the second run left a second report.
            #expect(again["attempts"] as? Int == 1)
            #expect(try sluice.query("SELECT count(*)::int AS n FROM sluice.ingestion_reports WHERE source_id = '\(id)'")
                .first?.decode(Int.self, "n") == 2)
        }
    }

    /// With a poll interval far beyond the deadlines below, only the in-process wake-up can meet them.
    @Test func uploadsAndReplaysAreIngestedAtOnceWithoutWaitingForThePoll() async throws {
        let sluice = try await InProcessSluice.start(ingestWorkers: 2, pollInterval: .seconds(300))
        do {
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let first = try await sluice.upload("acme", key: key, name: "a.csv", "sensor,at,value\ns1,1700000000000,1\n")
            let second = try await sluice.upload("acme", key: key, name: "b.csv", "sensor,at,value\ns2,1700000000000,2\n")
            for id in [first, second] {
                let file = try await sluice.finished("acme", id, key: key, timeout: .seconds(120))
                #expect(file["state"] as? String == "succeeded", "\(file)")
            }
            let replay = try await sluice.send("POST", "/api/v1/tenants/acme/files/\(first)/replay", token: key)
            #expect(replay.status == 202)
            let again = try await sluice.finished("acme", first, key: key, timeout: .seconds(120))
            #expect(again["state"] as? String == "succeeded", "\(again)")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM sluice.ingestion_reports WHERE source_id = '\(first)'")
                .first?.decode(Int.self, "n") == 2)
        } catch {
            try? await sluice.stop()
            throw error
        }
        // Idle loops waiting for a wake-up still stop at once.
        let stopping = try await ContinuousClock().measure { try await sluice.stop() }
        #expect(stopping < .seconds(120), "not after the 300 s poll")
    }

    @Test func gzipFilesInflateAndAGzipBombIsRefused() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let csv = Array("sensor,at,value\ns1,1700000000000,1\ns2,1700000000000,2\n".utf8)
            let packed = try Gzip.compress(csv)
            let good = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=a.csv.gz", token: key, body: .bytes(packed))
            let goodID = try #require(try good.json()["id"] as? String, "\(good.text)")
            let file = try await sluice.finished("acme", goodID, key: key)
            #expect(file["state"] as? String == "succeeded")
            #expect(file["rows_ingested"] as? Int == 2)

            // 64 MiB of zeros after a header compress about 1000:1, far beyond the allowed inflation ratio.
            let bomb = try Gzip.compress(Array("sensor,at,value\n".utf8) + [UInt8](repeating: 0x30, count: 64 << 20))
            let response = try await sluice.send("POST", "/api/v1/tenants/acme/files?name=bomb.csv.gz", token: key, body: .bytes(bomb))
            let bombID = try #require(try response.json()["id"] as? String, "\(response.text)")
            let refused = try await sluice.finished("acme", bombID, key: key)
            #expect(refused["state"] as? String == "failed")
            #expect((refused["error"] as? String)?.contains("gzip") == true, "\(refused)")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM acme.readings").first?.decode(Int.self, "n") == 2)
        }
    }

    @Test(arguments: [
        ("empty.csv", "", "the file holds no records"),
        ("header.csv", "sensor,at,value\r\n", "the file holds no records"),
        ("quote.csv", "sensor,at,value\ns1,1700000000000,\"1\n", "quote"),
        ("empty.json", "[]", "the file holds no records"),
        ("broken.json", "[{\"sensor\": \"s1\"", "JSON"),
        ("endless.ndjson", "{\"sensor\": \"" + String(repeating: "x", count: 65 << 20), "longer than 64 MiB"),
    ])
    func filesWithoutUsableRecordsFailWithAClearError(name: String, content: String, error: String) async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let result = try await sluice.uploadAndWait("acme", key: key, name: name, content)
            #expect(result.file["state"] as? String == "failed")
            #expect((result.file["error"] as? String)?.localizedCaseInsensitiveContains(error) == true, "\(result.file)")
        }
    }

    @Test func csvQuotingBOMAndCRLFSurviveToTheTable() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(tenantYAML("acme"), contentType: "application/yaml")
            let csv = "\u{FEFF}sensor,at,value,note\r\n\"s,1\",1700000000000,1,\"line one\r\nline \"\"two\"\"\"\r\ns2,1700000000000,2,\r\ns3,1700000000000,3\r\n"
            let result = try await sluice.uploadAndWait("acme", key: key, name: "q.csv", csv)
            #expect(result.file["state"] as? String == "partial", "\(result.file)")
            #expect(result.file["rows_ingested"] as? Int == 2)
            let notes = try sluice.query("SELECT sensor, note FROM acme.readings ORDER BY sensor")
            #expect(try notes.map { try $0.decode(String.self, "sensor") } == ["s,1", "s2"])
            #expect(try notes.first?.decode(String.self, "note") == "line one\r\nline \"two\"")
            let rejects = try await sluice.send("GET", "/api/v1/tenants/acme/files/\(result.id)/rejects", token: key).json()
            #expect((rejects["rejects"] as? [[String: Any]])?.first?["reason"] as? String == "field_count_mismatch")
        }
    }
}
