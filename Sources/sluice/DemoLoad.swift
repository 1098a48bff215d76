import Foundation
import SluiceCore
import SluiceOutbound
import Synchronization

/// The demo's load, sent over HTTP to the service it runs beside, to every example tenant: batch files (valid rows
/// from their schema, about 3 % of them bad, every eighth file all bad) and stream messages: records of their
/// schema for the tenants without a stream app; device messages for tenant-c (a share without a reading, which its
/// stream app drops), with a burst every four minutes big enough to meet backpressure; a steady 40 a second for
/// tenant-d, whose app has slow periods of its own. Progress is printed every ten seconds.
final class DemoLoad: Sendable {
    let base: String
    let keys: [String: String]
    let definitions: [TenantDefinition]
    private let http = CurlHTTPClient()
    private let counts = Mutex(Counts())

    /// What was sent and how it was answered.
    struct Counts {
        var files = 0
        var badFiles = 0
        var refusedFiles = 0
        var messages = 0
        /// Not accepted: 429 (backpressure), another status, or no answer.
        var refusedMessages = 0
        var failures = 0
    }

    init(base: String, keys: [String: String], definitions: [TenantDefinition]) {
        self.base = base
        self.keys = keys
        self.definitions = definitions
    }

    /// Sends until cancelled.
    func run() async {
        let tenants = definitions.filter { keys[$0.id] != nil }
        printWhereToLook(tenants)
        await withTaskGroup(of: Void.self) { group in
            for tenant in tenants {
                group.addTask { await self.batchFiles(tenant) }
                switch tenant.id {
                case "tenant-c":
                    group.addTask { await self.deviceMessages(tenant) }
                    group.addTask { await self.bursts(tenant) }
                case "tenant-d":
                    group.addTask { await self.machineReadings(tenant) }
                default:
                    group.addTask { await self.records(tenant) }
                }
            }
            group.addTask { await self.progress() }
        }
        say(summary("stopped"))
    }

    /// Prints `text` at once, even to a pipe or a file.
    private func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    private func printWhereToLook(_ tenants: [TenantDefinition]) {
        let metrics = base + "/metrics"
        say("""
            sluice demo: Sluice listens on \(base); load starts now (Ctrl-C stops both).
              tenants: \(tenants.map(\.id).joined(separator: ", ")), each sent batch files and stream messages
              metrics:  curl -s \(metrics) | grep ^sluice_ingest   (also on the operations listener, if any)
              reports:  curl -s -H "Authorization: Bearer $ADMIN" '\(base)/api/v1/tenants/\(tenants.first?.id ?? "tenant-a")/reports?limit=5'
              series:   curl -s -H "Authorization: Bearer $ADMIN" '\(base)/api/v1/tenants/*/series?metric=ingest_rows_per_second'
              alerts:   curl -s -H "Authorization: Bearer $ADMIN" \(base)/api/v1/alerts
              (ADMIN is the admin token: the credentials directory's admin-token file.) Dashboards: dashboards/, README.
            """)
    }

    /// A file every 3 s, CSV or else NDJSON as the tenant takes: mostly good rows with some bad ones, every eighth
    /// file all bad.
    private func batchFiles(_ tenant: TenantDefinition) async {
        let csv = tenant.fileTypes.contains(FileType(.csv))
        let bad = csv ? "not,a,valid,row" : #"{"not": "a valid record"}"#
        var number = 0
        while !Task.isCancelled {
            number += 1
            let allBad = number % 8 == 0
            let lines = generated(tenant, rows: 300, format: csv ? .csv : .ndjson, seed: number)
            let body = lines.enumerated().map { index, line in
                (index > 0 || !csv) && !line.isEmpty && (allBad || index % 33 == 0) ? bad : line
            }.joined(separator: "\n")
            let name = "demo-\(number).\(csv ? "csv" : "ndjson")"
            let answer = await post("/api/v1/tenants/\(tenant.id)/files?name=\(name)", key: tenant.id, body: Array(body.utf8))
            counts.withLock {
                $0.files += 1
                if allBad { $0.badFiles += 1 }
                if answer.map({ !(200...299).contains($0) }) ?? true { $0.refusedFiles += 1 }
            }
            try? await Task.sleep(for: .seconds(3))
        }
    }

    /// The lines of `rows` generated rows of the tenant's schema (and the header, for CSV).
    private func generated(_ tenant: TenantDefinition, rows: Int, format: SampleDataGenerator.Format, seed: Int) -> [String] {
        var lines: [String] = []
        SampleDataGenerator(definition: tenant, seed: UInt64(seed)).generate(rows: rows, format: format) { bytes in
            lines += String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        return lines
    }

    /// A tenant without a stream app of its own: 20 records of its schema every second, through its ingest app.
    private func records(_ tenant: TenantDefinition) async {
        var number = 0
        while !Task.isCancelled {
            number += 1
            let lines = generated(tenant, rows: 20, format: .ndjson, seed: 1_000_000 + number).filter { !$0.isEmpty }
            await postMessages(tenant, count: lines.count, body: lines.joined(separator: "\n"))
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// tenant-c: 100 device messages every half second, 2 % of them without a reading.
    private func deviceMessages(_ tenant: TenantDefinition) async {
        var number = 0
        while !Task.isCancelled {
            number += 1
            await sendMessages(tenant, count: 100, first: number * 100)
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// From 45 s on, every four minutes, six requests of 15 000 messages at once: more than the queue takes, and
    /// slower than StreamLatencyHigh allows, which scales the stream app up; the quiet minutes after let the
    /// alert resolve, which scales it back down.
    private func bursts(_ tenant: TenantDefinition) async {
        try? await Task.sleep(for: .seconds(45))
        var round = 0
        while !Task.isCancelled {
            round += 1
            let base = 10_000_000 * round
            await withTaskGroup(of: Void.self) { group in
                for part in 0..<6 { group.addTask { await self.sendMessages(tenant, count: 15_000, first: base + part * 15_000) } }
            }
            try? await Task.sleep(for: .seconds(240))
        }
    }

    /// tenant-d: 20 machine readings every half second, 1 in 100 without a machine id. Its app slows down by itself
    /// three minutes in every eight: the backlog grows, StreamLatencyHigh scales it up, then back down.
    private func machineReadings(_ tenant: TenantDefinition) async {
        var number = 0
        while !Task.isCancelled {
            let now = Int(Date().timeIntervalSince1970 * 1000)
            let body = (0..<20).map { index in
                number += 1
                return number % 100 == 0 ? #"{"at": \#(now + index), "rpm": 0}"#
                    : #"{"machine":"m-\#(number % 40)","at":\#(now + index),"rpm":\#(1200 + number % 300)}"#
            }.joined(separator: "\n")
            await postMessages(tenant, count: 20, body: body)
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func sendMessages(_ tenant: TenantDefinition, count: Int, first: Int) async {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        let body = (0..<count).map { index in
            let sensor = "s-\((first + index) % 50)"
            return (first + index) % 50 == 7
                ? #"{"device": {"id": "\#(sensor)", "site": "hall"}, "reading": {"t": \#(now + index)}}"#
                : #"{"device": {"id": "\#(sensor)", "site": "hall"}, "reading": {"t": \#(now + first + index), "fahrenheit": \#(60 + (first + index) % 25)}}"#
        }.joined(separator: "\n")
        await postMessages(tenant, count: count, body: body)
    }

    private func postMessages(_ tenant: TenantDefinition, count: Int, body: String) async {
        let answer = await post("/api/v1/tenants/\(tenant.id)/stream", key: tenant.id, body: Array(body.utf8))
        counts.withLock {
            $0.messages += count
            if answer.map({ !(200...299).contains($0) }) ?? true { $0.refusedMessages += count }
        }
    }

    /// The answer's status, or nil (counted) when there was none.
    private func post(_ path: String, key tenant: String, body: [UInt8]) async -> Int? {
        let request = OutboundRequest(url: base + path, headers: ["Authorization": "Bearer \(keys[tenant] ?? "")"], body: body,
                                      timeout: .seconds(15), verifyTLS: false)
        do {
            return try await http.post(request).status
        } catch {
            counts.withLock { $0.failures += 1 }
            return nil
        }
    }

    private func progress() async {
        let started = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(10))
            guard !Task.isCancelled else { return }
            let seconds = Int(started.duration(to: .now).components.seconds)
            say(summary("\(seconds / 60)m\(String(format: "%02d", seconds % 60))s"))
        }
    }

    /// What was sent so far, and how it was answered.
    private func summary(_ when: String) -> String {
        let now = counts.withLock { $0 }
        return "sluice demo \(when): \(now.files) files sent (\(now.badFiles) all bad, \(now.files - now.refusedFiles) accepted), "
            + "\(now.messages) stream messages (\(now.messages - now.refusedMessages) accepted, \(now.refusedMessages) refused), "
            + "\(now.failures) requests unanswered"
    }
}
