/// An error raised by SluiceStore: a failed connection, query, COPY, pool operation or embedded cluster step.
///
/// `code` is Sluice's own machine-readable classification; `sqlState` and the message fields come from
/// the server (`PQresultErrorField`) when it reported the failure.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// Sluice's machine-readable classification of an error.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable string form, e.g. `query_failed`.
        public let rawValue: String

        public init(_ rawValue: String) { self.rawValue = rawValue }

        public var description: String { rawValue }

        /// Opening or re-opening a connection failed.
        public static let connectionFailed = Code("connection_failed")
        /// A query or command failed.
        public static let queryFailed = Code("query_failed")
        /// A `COPY ... FROM STDIN` failed or was aborted.
        public static let copyFailed = Code("copy_failed")
        /// The server sent a message (not an error) during `COPY ... FROM STDIN`, so sending stopped
        /// early; the rows sent must be rolled back.
        public static let copyInterrupted = Code("copy_interrupted")
        /// The pool was closed before or while waiting for a connection.
        public static let poolClosed = Code("pool_closed")
        /// No connection became available within the pool's acquire timeout.
        public static let poolTimeout = Code("pool_timeout")
        /// A column value could not be decoded as the requested type, or the column does not exist.
        public static let decodeFailed = Code("decode_failed")
        /// A migration could not be applied.
        public static let migrationFailed = Code("migration_failed")
        /// The PostgreSQL server binaries (`initdb`, `pg_ctl`) are not installed.
        public static let serverNotInstalled = Code("server_not_installed")
        /// Initialising, starting or stopping an embedded cluster failed.
        public static let clusterFailed = Code("cluster_failed")
    }

    /// Sluice's classification of the failure.
    public var code: Code
    /// The five-character SQLSTATE reported by the server, if any.
    public var sqlState: String?
    /// The primary human-readable message.
    public var message: String
    /// The server's optional DETAIL line.
    public var detail: String?
    /// The server's optional HINT line.
    public var hint: String?
    /// The SQL statement (or command line) that failed, if any.
    public var sql: String?
    /// Additional context, e.g. the captured output of a subprocess.
    public var context: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, sql: String? = nil, context: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.sql = sql
        self.context = context
    }

    /// The SQLSTATE class (its first two characters), e.g. `23` for integrity constraint violations.
    public var sqlStateClass: String? { sqlState.map { String($0.prefix(2)) } }

    /// Whether the server reported a unique violation (`23505`).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// Whether the server reported a cardinality violation (`21000`), e.g. `ON CONFLICT DO UPDATE`
    /// meeting the same key twice in one statement.
    public var isCardinalityViolation: Bool { sqlState == "21000" }

    /// Whether retrying the same work later may well succeed: a deadlock or serialization failure
    /// (class `40`), a lock timeout (`55P03`), the server shutting down, restarting or out of connections
    /// (`57P01`–`57P03`, `53300`), a lost or refused connection, or no pooled connection in time.
    public var isTransient: Bool {
        sqlStateClass == "40" || sqlStateClass == "08" || ["55P03", "57P01", "57P02", "57P03", "53300"].contains(sqlState ?? "")
            || code == .connectionFailed || code == .poolTimeout || code == .poolClosed
    }

    /// Whether the store cannot serve now but may soon: no connection (refused, lost, none free in time, pool
    /// closed), the server shutting down or starting (`57P01`–`57P03`), too many connections (`53300`), or a
    /// lock or statement timeout (`55P03`, `57014`).
    public var isStoreUnavailable: Bool {
        code == .connectionFailed || code == .poolTimeout || code == .poolClosed || sqlStateClass == "08"
            || ["57P01", "57P02", "57P03", "53300", "55P03", "57014"].contains(sqlState ?? "")
    }

    /// Whether the server reported a foreign key violation (`23503`).
    public var isForeignKeyViolation: Bool { sqlState == "23503" }

    public var description: String {
        var text = "PostgresError(\(code)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        text += "): \(message)"
        if let detail { text += " DETAIL: \(detail)" }
        if let hint { text += " HINT: \(hint)" }
        if let sql { text += " SQL: \(sql)" }
        if let context { text += " CONTEXT: \(context)" }
        return text
    }
}
