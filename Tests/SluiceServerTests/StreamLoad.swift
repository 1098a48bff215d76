import Foundation
import SluiceStore
import SluiceTestSupport
import Synchronization
import Testing

/// Clients streaming continuously to a tenant, each message with a key of its own, recording what every
/// `200` acknowledged, until stopped; the port is read before each request, so the server may move.
final class StreamLoad: Sendable {
    struct Acknowledged: Sendable {
        let value: Double
        let batch: String
    }

    private struct State {
        var acknowledged: [String: Acknowledged] = [:]
        var statuses: [Int: Int] = [:]
        var codes: [String: Int] = [:]
        var retryAfterMissing = 0
    }

    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])

    /// Starts `clients` clients sending `messages` messages a request to `tenant` with `key`.
    init(clients: Int, messages: Int, tenant: String, key: String, port: @escaping @Sendable () -> UInt16) {
        let started = (0..<clients).map { client in
            Task { [self] in
                var sequence = 0
                while !stopping.load(ordering: .relaxed) {
                    let first = sequence
                    sequence += messages
                    let lines = (first..<first + messages).map { #"{"sensor": "c\#(client)-\#($0)", "at": 1, "value": \#($0).5}"# }
                    let response = try? await TestHTTPClient(port: port()).send(
                        "POST", "/api/v1/tenants/\(tenant)/stream", headers: [("Authorization", "Bearer \(key)")],
                        body: .bytes(Array(lines.joined(separator: "\n").utf8)))
                    // Pacing, not waiting: a client whose request failed (the server being killed) or was refused
                    // sends its next one a moment later instead of spinning on the two cores the server needs.
                    guard let response else {
                        try? await Task.sleep(for: .milliseconds(20))
                        continue
                    }
                    let code = (try? response.json()["error"] as? [String: Any])?["code"] as? String
                    let batch = response.member("batch_id") as? String
                    state.withLock { state in
                        state.statuses[response.status, default: 0] += 1
                        if let code { state.codes[code, default: 0] += 1 }
                        if response.status == 429 && response.header("Retry-After") == nil { state.retryAfterMissing += 1 }
                        guard response.status == 200, let batch else { return }
                        for number in first..<first + messages {
                            state.acknowledged["c\(client)-\(number)"] = Acknowledged(value: Double(number) + 0.5, batch: batch)
                        }
                    }
                    if response.status != 200 { try? await Task.sleep(for: .milliseconds(10)) }
                }
            }
        }
        tasks.withLock { $0 = started }
    }

    var acknowledgedCount: Int { state.withLock { $0.acknowledged.count } }
    func count(status: Int) -> Int { state.withLock { $0.statuses[status] ?? 0 } }
    var statuses: [Int: Int] { state.withLock { $0.statuses } }
    var codes: [String: Int] { state.withLock { $0.codes } }
    var retryAfterMissing: Int { state.withLock { $0.retryAfterMissing } }

    /// Stops the clients and waits for them.
    func stop() async {
        stopping.store(true, ordering: .relaxed)
        for task in tasks.withLock({ $0 }) { await task.value }
    }

    /// Expects every acknowledged message in the tenant's table exactly once, with its value, committed by the
    /// micro-batch its answer named.
    func expectAcknowledgedStored(databaseURL: String, table: String) throws {
        let connection = try PostgresConnection(connectionString: databaseURL)
        defer { connection.close() }
        var stored: [String: (value: Double, batch: String, count: Int)] = [:]
        for row in try connection.query("SELECT sensor, value, _sluice_source_id AS batch FROM \(table)") {
            let sensor = try row.decode(String.self, "sensor") ?? ""
            let previous = stored[sensor]?.count ?? 0
            stored[sensor] = (try row.decode(Double.self, "value") ?? 0, try row.decode(String.self, "batch") ?? "", previous + 1)
        }
        let acknowledged = state.withLock { $0.acknowledged }
        var missing = 0, wrong = 0
        for (sensor, ack) in acknowledged {
            guard let row = stored[sensor] else {
                missing += 1
                continue
            }
            if row.value != ack.value || row.batch != ack.batch || row.count != 1 { wrong += 1 }
        }
        #expect(missing == 0, "\(missing) of \(acknowledged.count) acknowledged messages are missing")
        #expect(wrong == 0, "\(wrong) acknowledged messages differ from what was acknowledged")
    }
}
