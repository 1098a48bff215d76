import ArgumentParser
import Crypto
import Foundation
import Logging
import SluiceServer
import SluiceStore
import SluiceTestSupport

/// Upload throughput through the whole front door (HTTP, auth, checks, SHA-256, fsync, ledger) against
/// writing and hashing the same bytes straight to a file in the same directory, in the same run.
struct UploadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload N MiB to a real sluice service over loopback (vs. write + SHA-256 + fsync of the same bytes).")

    @Option(help: "MiB per upload.")
    var mebibytes = 1024

    func run() async throws {
        let size = mebibytes << 20
        let directory = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-bench")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let line = Array("sensor-000001,1700000000000,12.5,some note text\n".utf8)
        let pattern = Array((0..<(65536 / line.count)).flatMap { _ in line })

        let baseline = try await onThread { try Self.writeAndHash(pattern: pattern, size: size, path: directory + "/baseline.csv") }
        try FileManager.default.removeItem(atPath: directory + "/baseline.csv")

        let cluster = EmbeddedPostgres(configuration: .init(dataDirectory: directory + "/pg"))
        var configuration = SluiceConfiguration()
        configuration.http.address = .init(host: "127.0.0.1", port: 0)
        configuration.operations = nil
        configuration.store.databaseURL = try await cluster.start()
        configuration.dataDirectory = directory + "/data"
        configuration.adminToken = "bench"
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let service = SluiceService(configuration: configuration, logger: logger)
        let shutdown = ShutdownSignal()
        let running = Task { try await service.run(until: shutdown) }
        while service.port == nil { try await Task.sleep(for: .milliseconds(20)) }
        let client = TestHTTPClient(port: service.port ?? 0)
        let definition = """
            {"id": "bench", "name": "Bench", "file_types": ["csv"],
             "schema": {"type": "record", "name": "t", "fields": [{"name": "sensor", "type": "string"}]},
             "primary_key": ["sensor"], "constraints": {"max_file_size": "8GiB", "storage_quota": "16GiB"}}
            """
        let created = try await client.send("POST", "/api/v1/tenants", headers: [("Authorization", "Bearer bench")],
                                            body: .bytes(Array(definition.utf8)))
        guard let key = try created.json()["api_key"] as? String else { throw TestClientError(created.text) }
        let started = ContinuousClock.now
        let response = try await client.send("POST", "/api/v1/tenants/bench/files?name=big.csv",
                                             headers: [("Authorization", "Bearer \(key)")],
                                             body: .repeating(pattern: pattern, count: size))
        let upload = started.duration(to: .now).secondsValue
        shutdown.fire()
        try await running.value
        try await cluster.stop()
        guard response.status == 201 else { throw TestClientError("upload failed: \(response.status) \(response.text)") }

        let mib = Double(mebibytes)
        print("write + SHA-256 + fsync of \(mebibytes) MiB (baseline): \(String(format: "%.0f", mib / baseline)) MiB/s")
        print("upload of \(mebibytes) MiB through sluice over loopback: \(String(format: "%.0f", mib / upload)) MiB/s; "
              + "ratio to baseline \(String(format: "%.2f", baseline / upload))")
    }

    /// Seconds to write `size` bytes of `pattern` in 16 KiB pieces (the size uploads arrive in) while
    /// hashing them, then fsync.
    private static func writeAndHash(pattern: [UInt8], size: Int, path: String) throws -> Double {
        let started = ContinuousClock.now
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw TestClientError("cannot create \(path)")
        }
        var hasher = SHA256()
        var written = 0
        while written < size {
            for offset in stride(from: 0, to: pattern.count, by: 16384) where written < size {
                let piece = pattern[offset..<min(pattern.count, offset + 16384, offset + size - written)]
                hasher.update(data: piece)
                try handle.write(contentsOf: piece)
                written += piece.count
            }
        }
        _ = hasher.finalize()
        try handle.synchronize()
        try handle.close()
        return started.duration(to: .now).secondsValue
    }
}
