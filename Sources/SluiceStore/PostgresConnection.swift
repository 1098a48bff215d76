import SluiceCommon
import CLibPQ
import Foundation
import Logging

/// One libpq connection.
///
/// A `PGconn` is not thread-safe and every call blocks: use a connection from one thread at a time and
/// never from Swift's cooperative thread pool. ``PostgresConnectionPool`` enforces both by running each
/// borrowed connection on its own serial queue.
///
/// `@unchecked Sendable`: the class holds a mutable C handle; it is Sendable only so the pool can move it
/// between its dedicated queues. Confinement (one thread at a time) is the caller's contract above.
public final class PostgresConnection: @unchecked Sendable {
    /// Options for a connection.
    public struct Configuration: Sendable {
        /// Receives server NOTICEs and connection events. Label `sluice.store` by default.
        public var logger: Logger
        /// Called for every failed query, command or COPY (e.g. to count errors by SQLSTATE class).
        public var onQueryError: (@Sendable (PostgresError) -> Void)?
        /// The session's `lock_timeout`: no statement waits longer than this for a lock (`55P03` then);
        /// `nil` keeps the server's setting.
        public var lockTimeout: Duration?

        public init(
            logger: Logger = Logger(label: "sluice.store"),
            onQueryError: (@Sendable (PostgresError) -> Void)? = nil,
            lockTimeout: Duration? = nil
        ) {
            self.logger = logger
            self.onQueryError = onQueryError
            self.lockTimeout = lockTimeout
        }
    }

    let configuration: Configuration
    private(set) var handle: OpaquePointer?
    private let noticeSink: NoticeSink

    /// Connects with a libpq conninfo string (`host=... dbname=...`) or URL (`postgresql://...`).
    public init(connectionString: String, configuration: Configuration = Configuration()) throws {
        self.configuration = configuration
        self.noticeSink = NoticeSink(logger: configuration.logger)
        guard let handle = PQconnectdb(connectionString) else {
            throw PostgresError(code: .connectionFailed, message: "PQconnectdb returned no connection (out of memory)")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(handle))
            PQfinish(handle)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        self.handle = handle
        PQsetNoticeProcessor(handle, postgresNoticeProcessor, Unmanaged.passUnretained(noticeSink).toOpaque())
        try applySessionSettings()
    }

    /// Settings every session of this connection runs with (again after a reset).
    private func applySessionSettings() throws {
        guard let lockTimeout = configuration.lockTimeout else { return }
        let milliseconds = max(1, Int((lockTimeout.secondsValue * 1000).rounded(.up)))
        try execute("SET lock_timeout = \(milliseconds)")
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Whether libpq considers the connection usable (`PQstatus == CONNECTION_OK`). Does no I/O.
    public var isConnected: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Whether the connection answers `SELECT 1`.
    public var isHealthy: Bool {
        (try? ping()) != nil
    }

    /// Runs `SELECT 1`, throwing if the server does not answer.
    public func ping() throws {
        _ = try run("SELECT 1", [], reportErrors: false)
    }

    /// Re-establishes the connection with the original parameters (`PQreset`).
    public func reset() throws {
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "connection is closed")
        }
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailed, message: Self.trimmed(PQerrorMessage(handle)))
        }
        try applySessionSettings()
        configuration.logger.info("postgres connection re-established")
    }

    /// Reads any input the server already sent without blocking, so a connection the server closed
    /// (e.g. on shutdown) is noticed before it is used. Returns whether the connection is still usable.
    func pollConnection() -> Bool {
        guard let handle else { return false }
        // The first read may only return the server's goodbye message; the second then sees the EOF.
        for _ in 0..<2 where PQconsumeInput(handle) != 1 {
            return false
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Closes the connection; later calls fail with `connection_failed`.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Runs one statement with `$1...` parameters (text format) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> PostgresRows {
        try run(sql, parameters, reportErrors: true)
    }

    /// Runs one statement with `$1...` parameters and returns the affected row count.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) throws -> Int {
        try run(sql, parameters, reportErrors: true).affectedRows
    }

    /// Runs a script of one or more `;`-separated statements without parameters (simple query protocol),
    /// e.g. a migration. The statements run in one implicit transaction unless the script manages its own.
    public func executeScript(_ sql: String) throws {
        let handle = try requireHandle(sql: sql)
        try consume(PQexec(handle, sql), sql: sql, reportErrors: true)
    }

    /// Runs a statement that cannot take parameters (DDL), built by the server from `template` with its
    /// `format()` (`%I` quotes an identifier, `%L` a literal), so no name or value is quoted here.
    public func executeFormatted(_ template: String, _ arguments: String...) throws {
        let placeholders = (0...arguments.count).map { "$\($0 + 1)::text" }.joined(separator: ", ")
        let rows = try query("SELECT format(\(placeholders)) AS statement", ([template] + arguments).map(PostgresValue.text))
        guard let statement = try rows.first?.decode(String.self, "statement") else { return }
        try execute(statement)
    }

    /// The SCRAM-SHA-256 verifier of `password` for `role`, computed by libpq (`PQencryptPasswordConn`), for
    /// `ALTER ROLE … PASSWORD`: the password itself never reaches the server.
    public func encryptedPassword(_ password: String, role: String) throws -> String {
        let handle = try requireHandle(sql: nil)
        guard let encrypted = PQencryptPasswordConn(handle, password, role, "scram-sha-256") else {
            throw makeConnectionError(code: .queryFailed, sql: nil)
        }
        defer { PQfreemem(encrypted) }
        return String(cString: encrypted)
    }

    /// Runs `body` inside `BEGIN` / `COMMIT`; if `body` throws, rolls back and rethrows the original error.
    @discardableResult
    public func withTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            do {
                try execute("ROLLBACK")
            } catch let rollbackError {
                configuration.logger.warning("ROLLBACK failed: \(rollbackError)")
            }
            throw error
        }
        try execute("COMMIT")
        return value
    }

    private func run(_ sql: String, _ parameters: [PostgresValue], reportErrors: Bool) throws -> PostgresRows {
        let handle = try requireHandle(sql: sql)
        // libpq takes text parameters as C strings: a NUL would silently cut the value. PostgreSQL refuses NUL in
        // text anyway; refuse it the same way (SQLSTATE 22021), before anything is sent.
        for case .text(let text) in parameters where text.utf8.contains(0) {
            throw PostgresError(code: .queryFailed, message: "text values cannot hold the character U+0000", sqlState: "22021", sql: sql)
        }
        let cStrings: [UnsafeMutablePointer<CChar>?] = parameters.map { value in
            switch value {
            case .null: nil
            case .text(let text): strdup(text)
            }
        }
        defer { cStrings.forEach { free($0) } }
        let result = cStrings.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
            PQexecParams(handle, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
        }
        return try consume(result, sql: sql, reportErrors: reportErrors)
    }

    func requireHandle(sql: String?) throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "connection is closed", sql: sql)
        }
        return handle
    }

    /// Converts a result into rows or an error, always clearing it.
    @discardableResult
    func consume(_ result: OpaquePointer?, sql: String, reportErrors: Bool, code: PostgresError.Code = .queryFailed)
        throws -> PostgresRows
    {
        guard let result else {
            throw failure(makeConnectionError(code: code, sql: sql), report: reportErrors)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Self.rows(of: result)
        default:
            var error = Self.makeError(result: result, code: code, sql: sql)
            // A connection lost mid-statement fails without a SQLSTATE: say so, so callers can tell an outage.
            if error.sqlState == nil, let handle, PQstatus(handle) == CONNECTION_BAD { error.code = .connectionFailed }
            throw failure(error, report: reportErrors)
        }
    }

    /// Reports `error` to the `onQueryError` hook (if asked) and returns it for throwing.
    func failure(_ error: PostgresError, report: Bool) -> PostgresError {
        if report { configuration.onQueryError?(error) }
        return error
    }

    func makeConnectionError(code: PostgresError.Code, sql: String?) -> PostgresError {
        let message = handle.map { Self.trimmed(PQerrorMessage($0)) } ?? "connection is closed"
        return PostgresError(code: code, message: message.isEmpty ? "no result from server" : message, sql: sql)
    }

    static func makeError(result: OpaquePointer, code: PostgresError.Code, sql: String?) -> PostgresError {
        func field(_ name: Int32) -> String? {
            PQresultErrorField(result, name).map { String(cString: $0) }
        }
        let message = field(CLibPQ_DIAG_MESSAGE_PRIMARY) ?? trimmed(PQresultErrorMessage(result))
        return PostgresError(
            code: code,
            message: message.isEmpty ? String(cString: PQresStatus(PQresultStatus(result))) : message,
            sqlState: field(CLibPQ_DIAG_SQLSTATE),
            detail: field(CLibPQ_DIAG_MESSAGE_DETAIL),
            hint: field(CLibPQ_DIAG_MESSAGE_HINT),
            sql: sql)
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        var values: [[String?]] = []
        values.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            values.append(
                (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
        }
        let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
        return PostgresRows(columns: columns, values: values, affectedRows: affected)
    }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Holds the logger the C notice callback writes to; kept alive by its connection.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

/// Routes libpq NOTICE / WARNING messages to the connection's logger instead of stderr.
private func postgresNoticeProcessor(_ context: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let context, let message else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    sink.logger.notice("postgres: \(text)")
}
