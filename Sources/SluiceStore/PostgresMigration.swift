/// One versioned schema change, applied at most once per schema by ``PostgresMigrator``.
public struct PostgresMigration: Sendable, Hashable {
    /// Unique, ascending version number.
    public var version: Int
    /// A short human-readable name, recorded with the version.
    public var name: String
    /// One or more SQL statements (no parameters).
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}
