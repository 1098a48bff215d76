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
        PostgresMigration(version: 2, name: "tenants, api keys and the file ledger", sql: """
            CREATE TABLE sluice.tenants (
                id            text PRIMARY KEY,
                display_name  text NOT NULL,
                definition    jsonb NOT NULL,
                source        text NOT NULL,
                created_at    timestamptz NOT NULL DEFAULT now(),
                updated_at    timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON COLUMN sluice.tenants.definition IS 'The validated definition in the native layout';
            COMMENT ON COLUMN sluice.tenants.source IS 'api, or config:<file> for tenants defined in the configuration directory';

            CREATE TABLE sluice.api_keys (
                key_hash    text PRIMARY KEY,
                tenant_id   text NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
                key_prefix  text NOT NULL,
                created_at  timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX api_keys_tenant ON sluice.api_keys (tenant_id);
            COMMENT ON COLUMN sluice.api_keys.key_hash IS 'Hex SHA-256 of the key; the plaintext is never stored';

            CREATE TABLE sluice.files (
                id                text PRIMARY KEY,
                tenant_id         text NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
                original_name     text NOT NULL,
                stored_name       text NOT NULL,
                format            text NOT NULL,
                compressed        boolean NOT NULL,
                size              bigint NOT NULL,
                sha256            text NOT NULL,
                state             text NOT NULL CHECK (state IN
                                  ('received', 'queued', 'ingesting', 'succeeded', 'failed', 'partial', 'deleted')),
                received_at       timestamptz NOT NULL DEFAULT now(),
                state_changed_at  timestamptz NOT NULL DEFAULT now(),
                error             text
            );
            CREATE INDEX files_tenant_received ON sluice.files (tenant_id, received_at);
            CREATE INDEX files_tenant_sha256 ON sluice.files (tenant_id, sha256);
            CREATE INDEX files_pending ON sluice.files (state, received_at) WHERE state IN ('received', 'queued', 'ingesting');
            COMMENT ON TABLE sluice.files IS 'The ledger of uploaded files: a row exists exactly when the staged file is visible';
            """),
        IngestionReports.migration,
        FileQueue.migration,
        PostgresMigration(version: 5, name: "tenants being deleted", sql: """
            ALTER TABLE sluice.tenants ADD COLUMN deleting_since timestamptz;
            COMMENT ON COLUMN sluice.tenants.deleting_since IS 'Set while the tenant is being deleted: gone for uploads, claims and the API';
            """),
        StagingBinding.migration,
        InstanceHeartbeat.migration,
        PostgresMigration(version: 8, name: "tenant schemas Sluice created", sql: """
            ALTER TABLE sluice.tenants ADD COLUMN schema_created boolean NOT NULL DEFAULT false;
            COMMENT ON COLUMN sluice.tenants.schema_created IS 'Whether Sluice created the tenant''s schema: only then does deleting the tenant drop it';
            -- Earlier versions created or adopted tenants' schemas: those Sluice's role owns are taken for its own,
            -- unless reserved (an embedded cluster's were all handed to it when it was locked down).
            UPDATE sluice.tenants t SET schema_created = true
            WHERE id NOT IN ('public', 'information_schema', 'sluice') AND id NOT LIKE 'pg\\_%' AND id NOT LIKE 'sluice\\_%'
              AND id NOT IN (SELECT word FROM pg_get_keywords() WHERE catcode = 'R')
              AND EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = t.id
                          AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user));
            """),
        StreamSchema.migration,
        MonitorSchema.migration,
        DeliveryLog.migration,
        SilenceStore.migration,
        NotificationGroups.migration,
    ]

    /// A migrator for the platform schema.
    public static var migrator: PostgresMigrator {
        PostgresMigrator(schema: name, migrations: migrations)
    }
}
