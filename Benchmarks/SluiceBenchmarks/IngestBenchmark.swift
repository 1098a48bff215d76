import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceStore
import SluiceTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end batch ingestion (HTTP upload → rows committed in the tenant table) through a real
/// `sluice serve` process with the example tenants, against `psql \copy` of the same rows into a table
/// of the same definition on the same PostgreSQL server, in the same run; and the server's peak
/// resident memory while it ingests a large file.
struct IngestBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Upload → committed rows through `sluice serve` (vs. psql \\copy of the same rows), and the server's peak RSS on a large file.",
        discussion: """
            Needs the release `sluice` binary next to this one: \
            swift build -c release --product sluice && swift build -c release --product sluice-benchmarks
            """)

    @Option(help: "Rows of the tenant-a CSV files (new rows, then the same keys with other values).")
    var rowsA = 1_000_000

    @Option(help: "Rows of the tenant-b files.")
    var rowsB = 200_000

    @Flag(help: "Skip the extra tenant-b runs that upload the same rows as NDJSON (against the same CSV baseline).")
    var skipNDJSON = false

    @Option(help: "Rounds of the tenant-a and tenant-b runs (each from empty tables); ratios are summarised by their median.")
    var rounds = 3

    @Option(help: "MiB of the large tenant-a CSV ingested for the peak-memory measurement.")
    var mebibytes = 1024

    @Flag(help: "Skip the large-file run (peak resident memory).")
    var skipLarge = false

    @Option(help: "--ingest-workers of the server.")
    var ingestWorkers = 2

    @Option(help: "Configuration directory holding tenants/tenant-a.yaml and tenant-b.yaml.")
    var config = "examples"

    func validate() throws {
        guard rowsA > 0, rowsB > 0, rounds > 0, mebibytes > 0, ingestWorkers > 0 else {
            throw ValidationError("--rows-a, --rows-b, --rounds, --mebibytes and --ingest-workers must be positive")
        }
    }

    func run() async throws {
        let configDirectory = URL(fileURLWithPath: config, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        let definitions = try ConfigurationDirectory.tenantDefinitions(in: configDirectory).map(\.definition.definition)
        guard let tenantA = definitions.first(where: { $0.id == "tenant-a" }),
              let tenantB = definitions.first(where: { $0.id == "tenant-b" }) else {
            throw ValidationError("\(configDirectory)/tenants must define tenant-a and tenant-b")
        }
        guard FileManager.default.isExecutableFile(atPath: SluiceProcess.executable) else {
            throw ValidationError("\(SluiceProcess.executable) is missing: swift build -c release --product sluice")
        }
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-ingest-bench")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = directory + "/files"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)

        // Input files, generated before anything is timed. The update files hold the same keys (derived from
        // the row number) with other values (another seed).
        let generation = ContinuousClock.now
        let aNew = try await Self.generate(tenantA, .csv, seed: 42, rows: rowsA, to: files + "/a-new.csv")
        let aUpdate = try await Self.generate(tenantA, .csv, seed: 43, rows: rowsA, to: files + "/a-update.csv")
        let bNew = try await Self.generate(tenantB, .csv, seed: 42, rows: rowsB, to: files + "/b-new.csv")
        let bUpdate = try await Self.generate(tenantB, .csv, seed: 43, rows: rowsB, to: files + "/b-update.csv")
        let bJSON = skipNDJSON ? nil : (
            new: try await Self.generate(tenantB, .ndjson, seed: 42, rows: rowsB, to: files + "/b-new.ndjson"),
            update: try await Self.generate(tenantB, .ndjson, seed: 43, rows: rowsB, to: files + "/b-update.ndjson"))
        let large = skipLarge ? nil
            : try await Self.generate(tenantA, .csv, seed: 44, rows: Int.max, to: files + "/a-large.csv", stopAt: mebibytes << 20)
        print("generated the input files in \(Self.f1(generation.duration(to: .now).secondsValue)) s "
              + "(tenant-a CSV \(Self.mib(aNew.bytes)) MiB, tenant-b CSV \(Self.mib(bNew.bytes)) MiB"
              + (bJSON.map { ", tenant-b NDJSON \(Self.mib($0.new.bytes)) MiB" } ?? "")
              + (large.map { ", large tenant-a CSV \(Self.mib($0.bytes)) MiB = \($0.rows) rows" } ?? "") + ")")

        var quiet = Logger(label: "bench")
        quiet.logLevel = .warning
        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: directory + "/pg", logger: quiet))
        let url = try await cluster.start()
        // psql works as the superuser: CHECKPOINT between timed steps, and the baseline tables.
        let psql = try PSQL(conninfo: try cluster.superuserConnectionString(database: cluster.configuration.databaseName),
                            postmasterPIDFile: cluster.clusterDirectory + "/postmaster.pid")
        let token = "bench-admin"
        let server: SluiceProcess
        do {
            server = try SluiceProcess(serve: ["--database-url", url, "--data-dir", directory + "/data", "--config", configDirectory,
                                               "--ingest-workers", String(ingestWorkers)],
                                       environment: ["SLUICE_ADMIN_TOKEN": token])
        } catch {
            try? await cluster.stop()
            throw error
        }
        do {
            try await server.waitUntilReady()
            let monitor = try PostgresConnection(connectionString: url)
            defer { monitor.close() }
            let bench = Bench(server: server, psql: psql, token: token, monitor: monitor)
            print("sluice serve pid \(server.process.processIdentifier), --ingest-workers \(ingestWorkers), PostgreSQL \(try await psql.run(["SHOW server_version"])), "
                  + "shared_buffers \(try await psql.run(["SHOW shared_buffers"]))")
            var ratios: [(title: String, values: [Double])] = []
            func compare(_ tenant: Bench.Tenant, _ title: String, rows: Int, upload: Generated, csv: Generated, update: Bool) async throws {
                let ratio = try await bench.compare(tenant, title: title, rows: rows, upload: upload, csv: csv, update: update).ratio
                if let index = ratios.firstIndex(where: { $0.title == title }) { ratios[index].values.append(ratio) } else { ratios.append((title, [ratio])) }
            }
            try await bench.warmUp(tenantA, aNew)
            for round in 1...rounds {
                if rounds > 1 { print("round \(round) of \(rounds)") }
                let caseA = try await bench.prepare(tenantA, suffix: "_\(round)")
                var caseB = try await bench.prepare(tenantB, suffix: "_\(round)")
                try await compare(caseA, "tenant-a new rows", rows: rowsA, upload: aNew, csv: aNew, update: false)
                try await compare(caseB, "tenant-b new rows", rows: rowsB, upload: bNew, csv: bNew, update: false)
                try await compare(caseA, "tenant-a update of every row", rows: rowsA, upload: aUpdate, csv: aUpdate, update: true)
                try await compare(caseB, "tenant-b update of every row", rows: rowsB, upload: bUpdate, csv: bUpdate, update: true)
                if let bJSON {
                    // The same rows as NDJSON (twice the bytes), against the same CSV baseline, from empty tables.
                    try await bench.reset(caseB)
                    caseB = try await bench.prepare(tenantB, suffix: "_ndjson_\(round)")
                    try await compare(caseB, "tenant-b new rows as NDJSON", rows: rowsB, upload: bJSON.new, csv: bNew, update: false)
                    try await compare(caseB, "tenant-b update of every row as NDJSON", rows: rowsB, upload: bJSON.update,
                                      csv: bUpdate, update: true)
                }
                try await bench.reset(caseA)
                try await bench.reset(caseB)
            }
            print("ratio sluice / psql, end to end (target ≥ 0.8)" + (rounds > 1 ? ", median of \(rounds) rounds:" : ":"))
            for (title, values) in ratios {
                let sorted = values.sorted(), middle = sorted.count / 2
                let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
                print("  \(title): \(Self.f2(median))" + (rounds > 1 ? " (rounds: \(values.map(Self.f2).joined(separator: ", ")))" : ""))
            }
            let pid = server.process.processIdentifier
            print("server peak resident memory (VmHWM) since start, over the runs above: "
                  + "\(Self.mib(ProcessProbe.peakResidentBytes(pid: pid))) MiB")

            if let large {
                // All new rows into an empty table (the rounds left the tenant tables empty).
                let largeCase = try await bench.prepare(tenantA, suffix: "_large")
                // Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak is that of this file alone.
                let reset = (try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)) != nil
                let before = ProcessProbe.residentBytes(pid: pid)
                let result = try await bench.compare(largeCase, title: "large tenant-a file, \(Self.mib(large.bytes)) MiB, new rows",
                                                     rows: large.rows, upload: large, csv: large, update: false).ingested
                let peak = ProcessProbe.peakResidentBytes(pid: pid)
                let after = ProcessProbe.residentBytes(pid: pid)
                print("server peak resident memory (VmHWM) while uploading and ingesting \(Self.mib(large.bytes)) MiB: "
                      + "\(Self.mib(peak)) MiB = \(String(format: "%.1f", Double(peak) / 1e6)) MB (target < 150 MB"
                      + (reset ? "; VmHWM reset before the upload" : "; VmHWM could not be reset: peak since start") + "); "
                      + "resident before upload \(Self.mib(before)) MiB, highest sampled while ingesting \(Self.mib(result.sampledPeakRSS)) MiB, "
                      + "after commit \(Self.mib(after)) MiB")
            }
            let problems = server.log.split(separator: "\n").filter {
                let line = $0.lowercased()
                return line.contains("error") || line.contains("warning") || line.contains("critical")
            }
            print("server log: \(problems.count) warning/error lines" + (problems.isEmpty ? "" : ":\n" + problems.prefix(20).joined(separator: "\n")))
            let status = try await server.terminate()
            if status != 0 { print("sluice serve exited with status \(status)") }
        } catch {
            FileHandle.standardError.write(Data("sluice serve log (tail):\n\(server.log.suffix(4000))\n".utf8))
            _ = try? await server.terminate()
            try? await cluster.stop()
            throw error
        }
        try await cluster.stop()
    }

    // MARK: - Input files

    struct Generated: Sendable {
        let path: String
        let rows: Int
        let bytes: Int
        let format: SampleDataGenerator.Format
    }

    private struct Enough: Error {}

    /// Streams `rows` generated rows to `path` (never holding the file in memory); with `stopAt`, stops
    /// at the first 64 KiB chunk that brings the file to that size (whole rows only).
    static func generate(_ definition: TenantDefinition, _ format: SampleDataGenerator.Format, seed: UInt64, rows: Int,
                         to path: String, stopAt: Int? = nil) async throws -> Generated {
        try await onThread {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw TestClientError("cannot create \(path)")
            }
            defer { try? handle.close() }
            var bytes = 0
            var lines = 0
            do {
                try SampleDataGenerator(definition: definition, seed: seed).generate(rows: rows, format: format) { chunk in
                    try handle.write(contentsOf: chunk)
                    bytes += chunk.count
                    if stopAt != nil {
                        for byte in chunk where byte == UInt8(ascii: "\n") { lines += 1 }
                    }
                    if let stopAt, bytes >= stopAt { throw Enough() }
                }
            } catch is Enough {}
            let header = format == .csv && definition.csv.header ? 1 : 0
            return Generated(path: path, rows: stopAt == nil ? rows : lines - header, bytes: bytes, format: format)
        }
    }

    static func f1(_ value: Double) -> String { String(format: "%.1f", value) }
    static func f2(_ value: Double) -> String { String(format: "%.2f", value) }
    static func mib(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }
    static func perSecond(_ rows: Int, _ seconds: Double) -> String { String(format: "%.0f", Double(rows) / seconds) }
}

/// The running server, the baseline client and the per-tenant steps.
private struct Bench {
    let server: SluiceProcess
    let psql: PSQL
    let token: String
    /// Watches `pg_stat_activity` while sluice ingests, to split its time into phases.
    let monitor: PostgresConnection

    /// A tenant under test: its API key, its table and the baseline table of the same definition.
    struct Tenant {
        let definition: TenantDefinition
        let key: String
        let table: String
        let baseline: String
        let columns: [String]
        let primaryKey: [String]
    }

    /// What one upload did, as seen from outside the server.
    struct Ingested {
        let fileID: String
        let state: String
        let uploadSeconds: Double
        /// The state the upload answered with: `ingesting` when the file was ingested while it arrived.
        let uploadState: String
        let endToEndSeconds: Double
        let report: [String: Any]
        let sampledPeakRSS: Int
        let serverCPUSeconds: Double
        let postgresCPUSeconds: Double
        /// Seconds from the claim to the start of `COPY sluice_stage`, of the COPY (reading, parsing and
        /// validating the file while streaming it), and from the start of the upsert to the commit; nil when
        /// a statement ran between two polls.
        let phases: (setup: Double, copy: Double, upsert: Double)?
    }

    /// Rotates the tenant's key (the example tenants' keys are only logged at creation) and creates the
    /// baseline table `bench.<tenant><suffix>`: the tenant table's columns, defaults, primary key and
    /// source index (`LIKE … INCLUDING ALL`), with a default for the lineage column `\copy` does not fill.
    /// The baseline's lineage values: as long as a file id (25 characters), so both tables store rows of
    /// the same size and the same index keys.
    static let newSource = "bench-new-000000000000000"
    static let updateSource = "bench-update-000000000000"

    func prepare(_ definition: TenantDefinition, suffix: String = "") async throws -> Tenant {
        let rotated = try await server.client.send("POST", "/api/v1/tenants/\(definition.id)/api-keys",
                                                   headers: [("Authorization", "Bearer \(token)")])
        guard rotated.status == 201, let key = try rotated.json()["api_key"] as? String else {
            throw TestClientError("key rotation for \(definition.id) failed: \(rotated.status) \(rotated.text)")
        }
        let storage = TenantStorage(definition: definition)
        let baseline = PostgresIdentifier.qualified("bench", definition.id.replacingOccurrences(of: "-", with: "_") + suffix)
        try await psql.run([
            "CREATE SCHEMA IF NOT EXISTS bench",
            "CREATE TABLE \(baseline) (LIKE \(storage.qualifiedTableName) INCLUDING ALL)",
            "ALTER TABLE \(baseline) ALTER COLUMN \(PostgresIdentifier.quote(TenantStorage.sourceIDColumn)) SET DEFAULT '\(Self.newSource)'",
        ])
        return Tenant(definition: definition, key: key, table: storage.qualifiedTableName, baseline: baseline,
                      columns: definition.schema.fields.map { PostgresIdentifier.quote($0.name) },
                      primaryKey: definition.primaryKey.map(PostgresIdentifier.quote))
    }

    /// Times `psql \copy` of `csv` (new rows) or `\copy` into a temporary table plus one upsert (update)
    /// into the baseline table, then the upload of `upload` through sluice until its file is committed,
    /// checks both tables and prints the comparison. Each timed step starts after a CHECKPOINT and is
    /// followed by an untimed VACUUM ANALYZE of the table it wrote, so neither inherits the other's
    /// background work.
    func compare(_ tenant: Tenant, title: String, rows: Int, upload: IngestBenchmark.Generated,
                 csv: IngestBenchmark.Generated, update: Bool) async throws -> (ingested: Ingested, ratio: Double) {
        let columns = tenant.columns.joined(separator: ", ")
        let copyOptions = "WITH (FORMAT csv, HEADER \(tenant.definition.csv.header))"
        let source = PostgresIdentifier.quote(TenantStorage.sourceIDColumn)
        let ingestedAt = PostgresIdentifier.quote(TenantStorage.ingestedAtColumn)
        let commands: [String]
        if update {
            let assignments = (tenant.columns + [source, ingestedAt]).filter { !tenant.primaryKey.contains($0) }
                .map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
            commands = [
                "CREATE TEMP TABLE bench_stage (LIKE \(tenant.baseline) INCLUDING DEFAULTS)",
                "\\copy bench_stage (\(columns)) FROM '\(csv.path)' \(copyOptions)",
                "INSERT INTO \(tenant.baseline) (\(columns), \(source), \(ingestedAt)) SELECT \(columns), '\(Self.updateSource)', now() FROM bench_stage "
                    + "ON CONFLICT (\(tenant.primaryKey.joined(separator: ", "))) DO UPDATE SET \(assignments)",
            ]
        } else {
            commands = ["\\copy \(tenant.baseline) (\(columns)) FROM '\(csv.path)' \(copyOptions)"]
        }
        try await psql.run(["CHECKPOINT"])
        let postgresBefore = psql.clusterCPUSeconds()
        let psqlBefore = childCPUSeconds()
        let started = ContinuousClock.now
        let timings = try await psql.run(["\\timing on"] + commands, singleTransaction: true)
        let psqlSeconds = started.duration(to: .now).secondsValue
        // "Time: 1234.567 ms (00:01.235)" per statement.
        let statementSeconds = timings.split(separator: "\n").filter { $0.hasPrefix("Time: ") }
            .compactMap { Double($0.dropFirst(6).prefix { $0 != " " }).map { $0 / 1000 } }
        let psqlCPU = childCPUSeconds() - psqlBefore
        let baselinePostgresCPU = psql.clusterCPUSeconds() - postgresBefore
        try await psql.run(["VACUUM ANALYZE \(tenant.baseline)", "CHECKPOINT"])

        let ingested = try await ingest(tenant, upload)
        try await psql.run(["VACUUM ANALYZE \(tenant.table)", "CHECKPOINT"])

        // The rows are there, once each, and (for updates) every one was rewritten by the second file.
        let expectedSource = update ? ingested.fileID : nil
        try await check(tenant.table, rows: rows, source: expectedSource)
        try await check(tenant.baseline, rows: rows, source: update ? Self.updateSource : Self.newSource)
        let report = ingested.report
        let ingestSeconds = report["duration_seconds"] as? Double ?? .nan
        let queueSeconds = report["queue_wait_seconds"] as? Double ?? .nan
        let rowsIngested = report["rows_ingested"] as? Int ?? -1
        let rowsRejected = report["rows_rejected"] as? Int ?? -1
        guard ingested.state == "succeeded", rowsIngested == rows, rowsRejected == 0 else {
            throw TestClientError("\(title): file \(ingested.fileID) ended \(ingested.state) with \(rowsIngested) rows ingested, "
                                  + "\(rowsRejected) rejected (report: \(report))")
        }
        typealias B = IngestBenchmark
        let endToEnd = ingested.endToEndSeconds
        print("\(title): \(rows) rows, \(upload.format.rawValue) \(B.mib(upload.bytes)) MiB"
              + (csv.path == upload.path ? "" : " (psql loads the same rows as CSV, \(B.mib(csv.bytes)) MiB)"))
        let statements = update && statementSeconds.count == 3
            ? " (CREATE TEMP TABLE \(B.f2(statementSeconds[0])) s, \\copy \(B.f2(statementSeconds[1])) s, INSERT … ON CONFLICT \(B.f2(statementSeconds[2])) s)"
            : ""
        print("  psql \(update ? "\\copy to a temp table + INSERT … ON CONFLICT DO UPDATE" : "\\copy") (baseline): \(B.f2(psqlSeconds)) s\(statements), "
              + "\(B.perSecond(rows, psqlSeconds)) rows/s; CPU: postgres \(B.f1(baselinePostgresCPU)) s, psql \(B.f1(psqlCPU)) s")
        let during = ingested.uploadState == "ingesting" ? "ingest during the upload, from its start" : "ingest"
        print("  sluice upload → committed: \(B.f2(endToEnd)) s (upload \(B.f2(ingested.uploadSeconds)) s, queued \(B.f2(queueSeconds)) s, "
              + "\(during) \(B.f2(ingestSeconds)) s), \(B.perSecond(rows, endToEnd)) rows/s; CPU: sluice \(B.f1(ingested.serverCPUSeconds)) s, "
              + "postgres \(B.f1(ingested.postgresCPUSeconds)) s")
        if let phases = ingested.phases {
            print("  sluice ingest phases: claim → COPY \(B.f2(phases.setup)) s, COPY to the temp table (read, parse, validate) "
                  + "\(B.f2(phases.copy)) s, INSERT … ON CONFLICT → commit \(B.f2(phases.upsert)) s")
        }
        print("  ratio sluice / psql: \(B.f2(psqlSeconds / endToEnd)) end to end (target ≥ 0.8); "
              + "ingest alone \(B.perSecond(rows, ingestSeconds)) rows/s, ratio \(B.f2(psqlSeconds / ingestSeconds))")
        return (ingested, psqlSeconds / endToEnd)
    }

    /// Loads `file` once, untimed, into a scratch table: the first large load has PostgreSQL create its WAL
    /// segments, later ones recycle them, so without this the first timed run would pay for it alone.
    func warmUp(_ definition: TenantDefinition, _ file: IngestBenchmark.Generated) async throws {
        let scratch = try await prepare(definition, suffix: "_warmup")
        try await psql.run(["\\copy \(scratch.baseline) (\(scratch.columns.joined(separator: ", "))) FROM '\(file.path)' "
                            + "WITH (FORMAT csv, HEADER \(definition.csv.header))"], singleTransaction: true)
        try await psql.run(["DROP TABLE \(scratch.baseline)", "CHECKPOINT"])
    }

    /// Empties the tenant table and drops the baseline table, for the next run from empty tables.
    func reset(_ tenant: Tenant) async throws {
        try await psql.run(["TRUNCATE \(tenant.table)", "DROP TABLE IF EXISTS \(tenant.baseline)"])
        try await psql.run(["VACUUM \(tenant.table)", "CHECKPOINT"])
    }

    /// Uploads `file` with the tenant's key and polls the file until it is succeeded, partial or failed.
    func ingest(_ tenant: Tenant, _ file: IngestBenchmark.Generated) async throws -> Ingested {
        let pid = server.process.processIdentifier
        let name = URL(fileURLWithPath: file.path).lastPathComponent
        // force: later rounds upload the same content again.
        let path = "/api/v1/tenants/\(tenant.definition.id)/files?name=\(name)&force=true"
        let auth = [("Authorization", "Bearer \(tenant.key)")]
        let client = server.client
        try await psql.run(["CHECKPOINT"])
        let serverBefore = processCPUSeconds(pid)
        let postgresBefore = psql.clusterCPUSeconds()
        var started = ContinuousClock.now
        var response = try await Self.upload(client, path: path, headers: auth, file: file.path)
        while response.status == 429 {
            // Rate limited (the tenant's max_ingest_rate): wait as told and time the accepted attempt only.
            let wait = Double(response.header("Retry-After") ?? "") ?? 1
            print("  (upload rate-limited: waiting \(IngestBenchmark.f1(wait)) s, not counted)")
            try await Task.sleep(for: .seconds(wait))
            started = ContinuousClock.now
            response = try await Self.upload(client, path: path, headers: auth, file: file.path)
        }
        let uploadSeconds = started.duration(to: .now).secondsValue
        guard response.status == 201, let id = try response.json()["id"] as? String else {
            throw TestClientError("upload of \(name) failed: \(response.status) \(response.text)")
        }
        var sampledPeak = ProcessProbe.residentBytes(pid: pid)
        var state = ""
        var lastChange = ContinuousClock.now
        var statementStarts: [String: Double] = [:]
        while true {
            for (statement, start) in try await activeIngestStatements() { statementStarts[statement] = start }
            let polled = try await client.get("/api/v1/tenants/\(tenant.definition.id)/files/\(id)", headers: auth)
            let now = try polled.json()["state"] as? String ?? "?"
            if now != state { state = now; lastChange = .now }
            if ["succeeded", "partial", "failed"].contains(state) { break }
            sampledPeak = max(sampledPeak, ProcessProbe.residentBytes(pid: pid))
            guard lastChange.duration(to: .now) < .seconds(1800) else {
                throw TestClientError("file \(id) stuck in state \(state) for 30 minutes")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let endToEnd = started.duration(to: .now).secondsValue
        let serverCPU = processCPUSeconds(pid) - serverBefore
        let monitor = monitor
        let times = try await onThread {
            try monitor.query("SELECT extract(epoch FROM ingest_started_at)::float8 AS started, "
                              + "extract(epoch FROM ingest_finished_at)::float8 AS finished FROM sluice.files WHERE id = $1", [.init(id)]).first
                .map { (try $0.decode(Double.self, "started") ?? .nan, try $0.decode(Double.self, "finished") ?? .nan) }
        }
        var phases: (setup: Double, copy: Double, upsert: Double)?
        if let (claimed, committed) = times, let copy = statementStarts["COPY"], let upsert = statementStarts["INSERT"] {
            phases = (copy - claimed, upsert - copy, committed - upsert)
        }
        let postgresCPU = psql.clusterCPUSeconds() - postgresBefore
        let reports = try await client.get("/api/v1/tenants/\(tenant.definition.id)/reports?limit=100", headers: auth)
        let report = (try reports.json()["reports"] as? [[String: Any]])?.first { $0["file_id"] as? String == id } ?? [:]
        return Ingested(fileID: id, state: state, uploadSeconds: uploadSeconds, uploadState: try response.json()["state"] as? String ?? "?", endToEndSeconds: endToEnd, report: report,
                        sampledPeakRSS: sampledPeak, serverCPUSeconds: serverCPU, postgresCPUSeconds: postgresCPU, phases: phases)
    }

    /// The ingest's COPY into its staging table and its upsert from it, if one is running: verb → start (epoch seconds).
    func activeIngestStatements() async throws -> [(String, Double)] {
        let monitor = monitor
        return try await onThread {
            try monitor.query("""
                SELECT split_part(ltrim(query), ' ', 1) AS verb, extract(epoch FROM query_start)::float8 AS started
                FROM pg_stat_activity
                WHERE state = 'active' AND pid <> pg_backend_pid()
                  AND (query LIKE 'COPY sluice_stage %' OR (query LIKE 'INSERT INTO %' AND query LIKE '%FROM sluice_stage%'))
                """).map { (try $0.decode(String.self, "verb") ?? "", try $0.decode(Double.self, "started") ?? .nan) }
        }
    }

    /// Sends `file` as the raw body of one POST, streamed from disk in 1 MiB pieces.
    static func upload(_ client: TestHTTPClient, path: String, headers: [(String, String)], file: String) async throws -> TestHTTPResponse {
        let size = try (FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        let connection = try await client.connect()
        return try await onThread {
            defer { connection.close() }
            guard let handle = FileHandle(forReadingAtPath: file) else { throw TestClientError("cannot read \(file)") }
            defer { try? handle.close() }
            var head = client.request("POST", path, headers: headers)
            head.removeLast(2)  // the blank line: a Content-Length header follows
            try connection.write(head + Array("Content-Length: \(size)\r\n\r\n".utf8))
            while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty {
                try connection.write([UInt8](piece))
            }
            return try connection.readResponse(method: "POST")
        }
    }

    /// Fails unless `table` holds exactly `rows` rows, all from `source` when given.
    func check(_ table: String, rows: Int, source: String?) async throws {
        let column = PostgresIdentifier.quote(TenantStorage.sourceIDColumn)
        let filter = source.map { "count(*) FILTER (WHERE \(column) = '\($0)')" } ?? "count(*)"
        let counted = try await psql.run(["SELECT count(*) || ' ' || \(filter) FROM \(table)"])
        guard counted == "\(rows) \(rows)" else {
            throw TestClientError("\(table) holds \(counted) (rows, rows from \(source ?? "any source")); expected \(rows) \(rows)")
        }
    }
}
