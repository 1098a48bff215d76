import SluiceStore

/// The stream path's tables: the ledger of committed micro-batches (rejects refer to a file or a
/// micro-batch), idempotency keys, the stream manager's action log, and stream windows' details in reports.
enum StreamSchema {
    static let migration = PostgresMigration(version: 9, name: "stream micro-batches, idempotency keys and actions", sql: """
        CREATE TABLE sluice.stream_batches (
            id            text PRIMARY KEY,
            tenant_id     text NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
            instance_id   text NOT NULL,
            committed_at  timestamptz NOT NULL DEFAULT now(),
            requests      integer NOT NULL,
            messages      integer NOT NULL,
            accepted      integer NOT NULL,
            rejected      integer NOT NULL,
            bytes         bigint NOT NULL
        );
        CREATE INDEX stream_batches_tenant_committed ON sluice.stream_batches (tenant_id, committed_at);
        COMMENT ON TABLE sluice.stream_batches IS 'Committed stream micro-batches: one COPY and one transaction each';

        ALTER TABLE sluice.rejects DROP CONSTRAINT rejects_pkey;
        ALTER TABLE sluice.rejects ALTER COLUMN file_id DROP NOT NULL;
        -- Deferred: a micro-batch's ledger row is written after its rows and rejects, with its counts.
        ALTER TABLE sluice.rejects ADD COLUMN batch_id text
            REFERENCES sluice.stream_batches (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
        ALTER TABLE sluice.rejects ADD CONSTRAINT rejects_one_source CHECK (num_nonnulls(file_id, batch_id) = 1);
        CREATE UNIQUE INDEX rejects_file_record ON sluice.rejects (file_id, record_number) WHERE file_id IS NOT NULL;
        CREATE UNIQUE INDEX rejects_batch_record ON sluice.rejects (batch_id, record_number) WHERE batch_id IS NOT NULL;
        COMMENT ON COLUMN sluice.rejects.record_number IS 'From 1 across the source: a file''s records, or a micro-batch''s messages';

        CREATE TABLE sluice.stream_idempotency (
            tenant_id    text NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
            key          text NOT NULL,
            body_sha256  text NOT NULL,
            answer       jsonb,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, key)
        );
        CREATE INDEX stream_idempotency_created ON sluice.stream_idempotency (created_at);
        COMMENT ON TABLE sluice.stream_idempotency IS 'Idempotency-Key of stream requests, written with their rows; the first answer is replayed';

        CREATE TABLE sluice.stream_actions (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id    text NOT NULL,
            action       text NOT NULL,
            parameters   jsonb NOT NULL,
            source       text NOT NULL,
            outcome      text NOT NULL CHECK (outcome IN ('applied', 'clamped', 'rejected')),
            message      text,
            state        jsonb NOT NULL,
            instance_id  text NOT NULL,
            at           timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX stream_actions_tenant_at ON sluice.stream_actions (tenant_id, at);
        COMMENT ON TABLE sluice.stream_actions IS 'Actions the stream manager took, from the API or the monitor, with the state they left';

        ALTER TABLE sluice.ingestion_reports ADD COLUMN details jsonb;
        COMMENT ON COLUMN sluice.ingestion_reports.details IS 'A stream window''s latencies, micro-batches, 429s, queue depth and instances';
        """)
}
