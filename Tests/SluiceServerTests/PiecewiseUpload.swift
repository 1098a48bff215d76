import SluiceTestSupport

/// An upload sent in two halves on its own connection, so a test can act while it is half-way.
final class PiecewiseUpload: Sendable {
    private let connection: TestConnection
    private let body: [UInt8]

    /// Sends the request head (announcing all of `body`) and the first half of `body`.
    init(_ client: TestHTTPClient, tenant: String, key: String, name: String, body: [UInt8]) async throws {
        let connection = try await client.connect()
        let head = client.request("POST", "/api/v1/tenants/\(tenant)/files?name=\(name)", headers: [("Authorization", "Bearer \(key)")],
                                  body: .repeating(pattern: [], count: body.count))
        try await onThread { try connection.write(head + body.prefix(body.count / 2)) }
        self.connection = connection
        self.body = body
    }

    /// Sends the second half and reads the answer.
    func finish() async throws -> TestHTTPResponse {
        let connection = connection, rest = Array(body.dropFirst(body.count / 2))
        return try await onThread {
            defer { connection.close() }
            try connection.write(rest)
            return try connection.readResponse(method: "POST")
        }
    }

    /// Breaks the upload off, as a client that goes away: closing its socket, or resetting the connection
    /// (a killed client, or one that gave up).
    func cutOff(reset: Bool = false) {
        if reset { connection.reset() } else { connection.close() }
    }

    /// Counts the COPY statements into `table` (quoted, e.g. `"acme"."readings"`) running in the database of
    /// the connection that runs it: the ingest following an upload. Tests share one cluster, hence the filter.
    static func activeCopies(into table: String) -> String {
        """
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY \(table)%'
        """
    }
}
