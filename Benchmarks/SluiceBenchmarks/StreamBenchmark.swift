import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceStore
import SluiceTestSupport
import Synchronization

/// Stream ingestion through a real `sluice serve` (tenant A, 100-message NDJSON requests over keep-alive
/// loopback connections, acknowledged once committed) against, in the same run, one `psql \copy` of as many
/// rows into a table of the same definition, and a naive loop of one `INSERT … VALUES` per message.
struct StreamBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Stream messages/s and acknowledgement latency through `sluice serve` (vs. psql \\copy and per-message INSERTs).",
        discussion: """
            Needs wrk and the release `sluice` binary next to this one: \
            swift build -c release --product sluice && swift build -c release --product sluice-benchmarks
            """)

    @Option(help: "Seconds of the 64-client run (the 1- and 8-client runs take a third of it).")
    var seconds = 60

    @Option(help: "Seconds of the open-loop run at half the 64-client rate, and of the overload run.")
    var openSeconds = 30

    @Option(help: "Connections of the overload run (closed loop: each sends again as soon as it is answered).")
    var overloadConnections = 512

    @Option(help: "Stream instances of tenant A (PUT …/stream/instances; it has no stream settings, so 1 to 4): two commit one micro-batch while the next fills.")
    var instances = 2

    @Option(help: "Configuration directory holding tenants/tenant-a.yaml.")
    var config = "examples"

    static let messagesPerRequest = 100

    func run() async throws {
        let configDirectory = URL(fileURLWithPath: config, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        guard let tenantA = try ConfigurationDirectory.tenantDefinitions(in: configDirectory)
            .map(\.definition.definition).first(where: { $0.id == "tenant-a" }) else {
            throw ValidationError("\(configDirectory)/tenants must define tenant-a")
        }
        guard FileManager.default.isExecutableFile(atPath: SluiceProcess.executable) else {
            throw ValidationError("\(SluiceProcess.executable) is missing: swift build -c release --product sluice")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else { throw ValidationError("wrk is missing: apt-get install wrk") }
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-stream-bench")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var quiet = Logger(label: "bench")
        quiet.logLevel = .warning
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: directory + "/pg", logger: quiet))
        let url = try await cluster.start()
        // psql works as the superuser: CHECKPOINT between timed steps, and the baseline tables.
        let psql = try PSQL(conninfo: try cluster.superuserConnectionString(database: cluster.configuration.databaseName),
                            postmasterPIDFile: cluster.clusterDirectory + "/postmaster.pid")
        let token = "bench-admin"
        let server = try SluiceProcess(serve: ["--database-url", url, "--data-dir", directory + "/data", "--config", configDirectory,
                                               "--ingest-workers", "1", "--max-connections-per-ip", "0"],
                                       environment: ["SLUICE_ADMIN_TOKEN": token])
        do {
            try await server.waitUntilReady()
            let rotated = try await server.client.send("POST", "/api/v1/tenants/tenant-a/api-keys", headers: [("Authorization", "Bearer \(token)")])
            guard let key = try rotated.json()["api_key"] as? String else { throw TestClientError("key rotation failed: \(rotated.text)") }
            let desired = try await server.client.send("PUT", "/api/v1/tenants/tenant-a/stream/instances",
                                                       headers: [("Authorization", "Bearer \(token)")],
                                                       body: .bytes(Array(#"{"desired": \#(instances)}"#.utf8)))
            guard desired.status == 200 else { throw TestClientError("setting the instances failed: \(desired.text)") }
            print("tenant A: \(instances) stream instance(s); every timed run starts from an empty table after a CHECKPOINT")
            let bench = StreamBench(server: server, key: key, directory: directory, url: url, definition: tenantA)
            try await bench.measure(psql: psql, seconds: seconds, openSeconds: openSeconds, overloadConnections: overloadConnections)
            _ = try await server.terminate()
        } catch {
            FileHandle.standardError.write(Data("sluice serve log (tail):\n\(server.log.suffix(4000))\n".utf8))
            _ = try? await server.terminate()
            try? await cluster.stop()
            throw error
        }
        try await cluster.stop()
    }
}

/// The runs of one stream benchmark against one server.
struct StreamBench {
    let server: SluiceProcess
    let key: String
    let directory: String
    let url: String
    let definition: TenantDefinition

    typealias B = IngestBenchmark
    static let perRequest = StreamBenchmark.messagesPerRequest

    /// One tenant-A message with a key of its own: device `prefix-<n>`.
    static func message(_ prefix: String, _ number: Int) -> String {
        #"{"PROVINCECODE":"P\#(number % 61)","DEVICEID":"\#(prefix)-\#(number)","IFINDEX":1,"FRAME":2,"SLOT":3,"PORT":4,"ONUINDEX":5,"# +
            #""ONUID":\#(number % 997),"TIME":"2026-12-06T08:00:00","SPEEDIN":\#(number % 1000).25,"SPEEDOUT":12.5}"#
    }

    func measure(psql: PSQL, seconds: Int, openSeconds: Int, overloadConnections: Int) async throws {
        let script = try writeScript()
        var results: [(clients: Int, run: WRKRun, rows: Int)] = []
        for clients in [1, 8, 64] {
            let duration = clients == 64 ? seconds : max(5, seconds / 3)
            try await emptyTable(psql)
            let before = try await rowCount()
            let run = try await wrk(script: script, connections: clients, seconds: duration, prefix: "c\(clients)")
            let rows = try await rowCount() - before
            results.append((clients, run, rows))
            print("\(clients) keep-alive clients, \(duration) s, closed loop: \(B.perSecond(rows, run.seconds)) messages/s committed "
                  + "(\(Int(run.requestsPerSecond)) requests/s, \(run.non2xx) not 200); acknowledgement latency p50 \(ms(run.p50)), "
                  + "p99 \(ms(run.p99)), max \(ms(run.max))")
        }
        let (_, top, topRows) = results[results.count - 1]
        let sustained = Double(topRows) / top.seconds
        try await printBatchSizes()

        // Open loop at half the sustained rate: latency from each request's scheduled time.
        let rate = sustained / 2 / Double(Self.perRequest)
        try await emptyTable(psql)
        let open = try await openLoop(requestsPerSecond: rate, seconds: openSeconds)
        print("open loop at half that rate (\(Int(rate)) requests/s = \(Int(rate) * Self.perRequest) messages/s, \(openSeconds) s): "
              + "\(open.sent) requests, \(open.failed) not 200; latency from the scheduled send p50 \(ms(open.p50)), p99 \(ms(open.p99)) "
              + "(target < 50 ms), max \(ms(open.max))")

        // The baselines: as many rows as the 64-client run committed, by one \copy, and by INSERTs.
        let baseline = try await copyBaseline(psql: psql, rows: topRows)
        print("psql \\copy of the same \(topRows) rows into a table of tenant A's definition (baseline): "
              + "\(B.f2(baseline)) s, \(B.perSecond(topRows, baseline)) rows/s")
        print("  ratio stream (64 clients) / \\copy: \(B.f2(sustained / (Double(topRows) / baseline))) (target ≥ 0.6)")
        try await emptyTable(psql)
        let naive = try await naiveInserts(seconds: max(10, seconds / 3))
        print("naive loop, one INSERT … VALUES per message (8 connections, autocommit; the background documents' way): "
              + "\(B.perSecond(naive.rows, naive.seconds)) rows/s; ratio stream / naive \(B.f2(sustained / (Double(naive.rows) / naive.seconds)))")

        // Overload: far more than it can take; the queue bounds memory, the rest is answered 429.
        let pid = server.process.processIdentifier
        try await emptyTable(psql)
        let reset = (try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)) != nil
        let before = try await rowCount()
        let flood = try await wrk(script: script, connections: overloadConnections, seconds: openSeconds, prefix: "flood", repeating: true)
        let committed = Double(try await rowCount() - before)
        let offered = flood.requestsPerSecond * Double(Self.perRequest)
        print("overload, \(overloadConnections) connections sending one 100-message request over and over, \(openSeconds) s: offered "
              + "\(Int(offered)) messages/s = \(B.f1(offered / sustained))× the sustained rate above; \(flood.non2xx) of the "
              + "\(Int(flood.requestsPerSecond * flood.seconds)) requests answered 429 (\(Int(committed)) new rows: its keys repeat)")
        print("  server peak resident memory (VmHWM) \(reset ? "during the overload" : "since start"): "
              + "\(B.mib(ProcessProbe.peakResidentBytes(pid: pid))) MiB = \(String(format: "%.1f", Double(ProcessProbe.peakResidentBytes(pid: pid)) / 1e6)) MB (target < 200 MB)")
        let problems = server.log.split(separator: "\n").filter { $0.contains("error") || $0.contains("critical") }
        print("server log: \(problems.count) error lines" + (problems.isEmpty ? "" : ":\n" + problems.prefix(10).joined(separator: "\n")))
    }

    private func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }

    /// Every timed run starts from an empty tenant table after a CHECKPOINT, as the baseline's \copy does.
    private func emptyTable(_ psql: PSQL) async throws {
        try await psql.run([#"TRUNCATE "tenant-a".analytics"#])
        try await psql.run([#"VACUUM "tenant-a".analytics"#, "CHECKPOINT"])
    }

    private func rowCount() async throws -> Int {
        let url = url
        return try await onThread {
            let connection = try PostgresConnection(connectionString: url)
            defer { connection.close() }
            return try connection.query(#"SELECT count(*)::bigint AS n FROM "tenant-a".analytics"#).first?.decode(Int.self, "n") ?? 0
        }
    }

    private func printBatchSizes() async throws {
        let metrics = try await server.client.get("/metrics").text
        let lines = metrics.split(separator: "\n").filter { $0.hasPrefix("sluice_stream_commit_batch_messages") && $0.contains("tenant-a") }
        func value(_ suffix: String) -> Double {
            lines.first { $0.hasPrefix("sluice_stream_commit_batch_messages_\(suffix)") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        let buckets = lines.filter { $0.contains("_bucket") }.map { line -> String in
            let bound = line.split(separator: "le=\"").last?.split(separator: "\"").first ?? "?"
            return "≤\(bound): \(line.split(separator: " ").last ?? "")"
        }
        print("group commit over these runs: \(Int(value("count"))) micro-batches, mean \(B.f1(value("sum") / max(value("count"), 1))) messages "
              + "(cumulative: \(buckets.joined(separator: ", ")))")
    }

    // MARK: wrk

    struct WRKRun {
        var seconds: Double
        var requestsPerSecond: Double
        var p50: Double
        var p99: Double
        var max: Double
        var non2xx: Int
    }

    private func writeScript() throws -> String {
        let path = directory + "/stream.lua"
        let sample = Self.message("PREFIX", 0)
            .replacingOccurrences(of: "\"P0\"", with: "\"P%d\"").replacingOccurrences(of: "PREFIX-0", with: "%s-%d")
            .replacingOccurrences(of: "\"ONUID\":0", with: "\"ONUID\":%d").replacingOccurrences(of: "\"SPEEDIN\":0.25", with: "\"SPEEDIN\":%d.25")
        let script = """
            -- Each request: \(Self.perRequest) tenant-A messages with keys of their own (thread, counter).
            local threads = 0
            function setup(thread)
              threads = threads + 1
              thread:set("id", threads)
            end
            function init(args)
              prefix = (args[1] or "run") .. "-" .. id
              counter = 0
              if args[2] == "static" then
                -- One request over and over (the overload run: what wrk can offer, not what it can generate).
                cached = make()
              end
            end
            request = function()
              return cached or make()
            end
            function make()
              local lines = {}
              for i = 1, \(Self.perRequest) do
                counter = counter + 1
                lines[i] = string.format('\(sample)', counter % 61, prefix, counter, counter % 997, counter % 1000)
              end
              return wrk.format("POST", "/api/v1/tenants/tenant-a/stream",
                {["Authorization"] = "Bearer \(key)", ["Content-Type"] = "application/x-ndjson"}, table.concat(lines, "\\n"))
            end
            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func wrk(script: String, connections: Int, seconds: Int, prefix: String, repeating: Bool = false) async throws -> WRKRun {
        let arguments = ["-t", String(min(2, connections)), "-c", String(connections), "-d", "\(seconds)s", "--latency", "--timeout", "30s",
                         "-s", script, "http://127.0.0.1:\(server.port)", "--", prefix] + (repeating ? ["static"] : [])
        let output = try await onThread { () throws -> String in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestClientError("wrk failed: \(text)") }
            return text
        }
        func field(_ prefix: String, _ index: Int) -> String? {
            output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix(prefix) }?
                .split(separator: " ", omittingEmptySubsequences: true).dropFirst(index).first.map(String.init)
        }
        guard let rate = field("Requests/sec:", 1).flatMap(Double.init) else { throw TestClientError("unexpected wrk output: \(output)") }
        return WRKRun(seconds: Double(seconds), requestsPerSecond: rate, p50: Self.duration(field("50%", 1)),
                      p99: Self.duration(field("99%", 1)), max: Self.duration(field("Latency", 3)),
                      non2xx: field("Non-2xx or 3xx responses:", 4).flatMap(Int.init) ?? 0)
    }

    /// wrk's `12.34ms`, `850.00us`, `1.20s`, `2.00m`.
    static func duration(_ text: String?) -> Double {
        guard let text else { return .nan }
        for (unit, scale) in [("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0)] where text.hasSuffix(unit) {
            if let value = Double(text.dropLast(unit.count)) { return value * scale }
        }
        return .nan
    }
}
