import Foundation
import Synchronization
import SluiceTestSupport
import Testing

/// A million-row CSV export from a real `sluice serve` process: every row arrives, in key order, while the server's
/// resident memory grows by less than 50 MB (the export goes a batch at a time, paced by the client).
@Suite struct RecordsExportMemoryTests {
    private static let rows = 1_000_000

    @Test func aMillionRowCSVExportKeepsTheServersMemoryBounded() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "records-export")
        let sluice = try await SluiceProcess.serving(in: directory, adminToken: "admin")
        do {
            let key = try await sluice.createTenant(tenantYAML("rec-million"), adminToken: "admin")
            var csv = Array("sensor,at,value,note\n".utf8)
            csv.reserveCapacity(45 * Self.rows)
            for index in 0..<Self.rows {
                csv += Array("s-\(String(format: "%07d", index)),\(1_700_000_000_000 + index),\(index),\n".utf8)
            }
            let upload = try await sluice.client.send("POST", "/api/v1/tenants/rec-million/files?name=million.csv",
                                                      headers: [("Authorization", "Bearer \(key)")], body: .bytes(csv))
            let id = try #require(try upload.json()["id"] as? String, "\(upload.text)")
            try await waitUntil("the million rows are ingested", timeout: .seconds(600), interval: .milliseconds(500)) {
                try await sluice.client.send("GET", "/api/v1/tenants/rec-million/files/\(id)", headers: [("Authorization", "Bearer \(key)")])
                    .json()["state"] as? String == "succeeded"
            }

            let pid = sluice.process.processIdentifier
            // The peak from here on: the kernel's high-water mark is reset, the export's measured by it and by samples.
            try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
            let before = ProcessProbe.residentBytes(pid: pid)
            let peak = Mutex(before)
            let sampler = Task {
                while !Task.isCancelled {
                    let now = ProcessProbe.residentBytes(pid: pid)
                    peak.withLock { $0 = max($0, now) }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            let connection = try await sluice.client.connect()
            defer { connection.close() }
            try connection.write(sluice.client.request("GET", "/api/v1/tenants/rec-million/records?format=csv&fields=sensor,value",
                                                       headers: [("Authorization", "Bearer \(key)")]))
            let (status, lines, ordered) = try await onThread {
                var lines = 0
                var previous = ""
                var ordered = true
                var partial: [UInt8] = []
                let response = try connection.readResponse(method: "GET") { chunk in
                    partial += chunk
                    var start = partial.startIndex
                    while let newline = partial[start...].firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: partial[start..<newline], as: UTF8.self)
                        if lines > 1 { ordered = ordered && line > previous }
                        previous = line
                        lines += 1
                        start = newline + 1
                    }
                    partial.removeSubrange(..<start)
                }
                return (response.status, lines, ordered)
            }
            sampler.cancel()
            let growth = max(peak.withLock { $0 }, ProcessProbe.peakResidentBytes(pid: pid)) - before
            #expect(status == 200 && lines == Self.rows + 1, "header and \(Self.rows) rows: \(lines) lines")
            #expect(ordered, "rows in primary-key order")
            #expect(growth < 50 * 1024 * 1024, "resident memory grew by \(growth / 1024 / 1024) MB")
            #expect(try await sluice.terminate() == 0)
        } catch {
            _ = try? await sluice.terminate()
            throw error
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
