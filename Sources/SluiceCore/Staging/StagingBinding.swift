import Foundation
import SluiceStore

/// Makes sure every instance on one database uses the same staging directory, at start, instead of
/// failing files later: a file staged by one instance and claimed by another must be there for both.
///
/// The database records the id of its staging directory (`sluice.staging_area`); the directory holds the
/// same id and the database's name in a marker file (`.sluice-staging`). The first instance binds them;
/// every later one must find the two agreeing.
public struct StagingBinding: Sendable {
    /// The marker's name in the staging directory.
    public static let markerName = ".sluice-staging"

    public static let migration = PostgresMigration(version: 6, name: "staging directory binding", sql: """
        CREATE TABLE sluice.staging_area (
            id        text PRIMARY KEY,
            database  text NOT NULL,
            bound_at  timestamptz NOT NULL DEFAULT now(),
            single    boolean NOT NULL DEFAULT true UNIQUE CHECK (single)
        );
        COMMENT ON TABLE sluice.staging_area IS 'The one staging directory every instance on this database shares (its marker holds the id)';
        """)

    private struct Marker: Codable, Equatable {
        let id: String
        let database: String
    }

    private let pool: PostgresConnectionPool
    private let root: String

    public init(pool: PostgresConnectionPool, root: String) {
        self.pool = pool
        self.root = root
    }

    /// Binds a new staging directory to a new database, or checks that the two belong together; throws
    /// `staging_mismatch` with what is wrong and what to do. Instances starting together take turns (an
    /// advisory lock), so the first binds and the others find its marker.
    public func verify() async throws {
        let root = root
        try await pool.withTransaction { connection in
            _ = try connection.query("SELECT pg_advisory_xact_lock(hashtextextended('sluice.staging-binding', 0))")
            // The marker is tiny: it is read and written here, on the connection's own thread, under the lock.
            let found = try Self.readMarker(in: root)
            let row = try connection.query("SELECT id, database FROM sluice.staging_area").first
            let bound = try row.map { Marker(id: try $0.decode(String.self, "id") ?? "", database: try $0.decode(String.self, "database") ?? "") }
            switch (found, bound) {
            case (.some(let marker), .some(let expected)) where marker == expected:
                return
            case (.some(let marker), .none)
                where try connection.query("SELECT current_database() AS name").first?.decode(String.self, "name") == marker.database:
                throw ServiceError(.conflict, "staging_mismatch", """
                    the staging directory \(root) is bound to a database "\(marker.database)" (staging id \(marker.id)), but this \
                    database has no record of a staging directory: if it is this database and its first start did not \
                    finish, remove \(root)/\(Self.markerName); otherwise give each database its own --staging-dir
                    """)
            case (.some(let marker), _):
                throw ServiceError(.conflict, "staging_mismatch", """
                    the staging directory \(root) belongs to another database (database "\(marker.database)", staging id \
                    \(marker.id)); give each database its own --staging-dir, and every instance of one database the same one
                    """)
            case (.none, .some(let expected)):
                throw ServiceError(.conflict, "staging_mismatch", """
                    \(root) is not this database's staging directory (it has no \(Self.markerName) with id \(expected.id)): \
                    every instance on one database must use the same --staging-dir (a shared volume). If that directory is \
                    lost for good, run DELETE FROM sluice.staging_area to bind a new one.
                    """)
            case (.none, .none):
                let database = try connection.query("SELECT current_database() AS name").first?.decode(String.self, "name") ?? ""
                let marker = Marker(id: UUID().uuidString.lowercased(), database: database)
                _ = try connection.execute("INSERT INTO sluice.staging_area (id, database) VALUES ($1, $2)",
                                           [.init(marker.id), .init(marker.database)])
                try Self.writeMarker(marker, in: root)
            }
        }
    }

    private static func readMarker(in root: String) throws -> Marker? {
        let path = root + "/" + markerName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let marker = try? JSONDecoder().decode(Marker.self, from: data) else {
            throw ServiceError(.conflict, "staging_mismatch", "\(path) is not a Sluice staging marker; remove it or choose another --staging-dir")
        }
        return marker
    }

    /// Written whole or not at all (a temporary file renamed into place).
    private static func writeMarker(_ marker: Marker, in root: String) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let path = root + "/" + markerName, temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: try JSONEncoder().encode(marker)),
              rename(temporary, path) == 0 else {
            throw ServiceError(.unavailable, "io_error", "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
