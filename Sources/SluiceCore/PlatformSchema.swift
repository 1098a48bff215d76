import SluiceStore

/// The versioned migrations of the platform schema `sluice`, applied in order at start.
///
/// Append new migrations with the next version; never edit one that has shipped.
public enum PlatformSchema {
    /// The PostgreSQL schema holding Sluice's own tables.
    public static let name = "sluice"

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "instances", sql: """
            CREATE TABLE sluice.instances (
                id          text PRIMARY KEY,
                hostname    text NOT NULL,
                pid         integer NOT NULL,
                version     text NOT NULL,
                started_at  timestamptz NOT NULL DEFAULT now(),
                last_seen   timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE sluice.instances IS 'Running Sluice processes and their heartbeats';
            """),
    ]

    /// A migrator for the platform schema.
    public static var migrator: PostgresMigrator {
        PostgresMigrator(schema: name, migrations: migrations)
    }
}
