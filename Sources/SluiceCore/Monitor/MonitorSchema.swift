import SluiceStore

/// The monitor's tables: per-minute and per-hour sums of the reports (kept by a trigger), readiness probes,
/// alert state and history, and the cause of a stream action.
enum MonitorSchema {
    /// The sums' columns, as ``ReportAggregate`` names them.
    private static let columnDefinitions = ReportAggregate.columns.map { column in
        "\(column.name) \(["latency_sum", "latency_max", "queue_oldest_age_max"].contains(column.name) ? "double precision" : "bigint")"
    }.joined(separator: ",\n    ")

    /// Adds the reports of `source` to `table`'s sums per `unit` (`minute`, `hour`) of `started_at`, locking the
    /// sums' rows in one order.
    private static func upsert(table: String, column: String, unit: String, from source: String = "new_reports") -> String {
        """
        INSERT INTO sluice.\(table) AS m (tenant_id, kind, \(column), \(ReportAggregate.columns.map(\.name).joined(separator: ", ")))
            SELECT tenant_id, kind, date_trunc('\(unit)', started_at), \(ReportAggregate.fromReports)
            FROM \(source) GROUP BY tenant_id, kind, date_trunc('\(unit)', started_at)
            ORDER BY tenant_id, kind, date_trunc('\(unit)', started_at)
            ON CONFLICT (tenant_id, \(column), kind) DO UPDATE SET
                \(ReportAggregate.columns.map { column in
                    column.combine == "sum" ? "\(column.name) = m.\(column.name) + excluded.\(column.name)"
                        : "\(column.name) = greatest(m.\(column.name), excluded.\(column.name))"
                }.joined(separator: ",\n        "));
        """
    }

    /// Set (transaction-local) while reports are moved out of the default partition: they were counted.
    static let movingReportsSetting = "sluice.moving_reports"

    static let migration = PostgresMigration(version: 10, name: "report minutes, readiness probes and alerts", sql: """
        CREATE TABLE sluice.report_minutes (
            tenant_id  text NOT NULL,
            kind       text NOT NULL,
            minute     timestamptz NOT NULL,
            \(columnDefinitions),
            PRIMARY KEY (tenant_id, minute, kind)
        ) PARTITION BY RANGE (minute);
        CREATE TABLE sluice.report_minutes_default PARTITION OF sluice.report_minutes DEFAULT;
        COMMENT ON TABLE sluice.report_minutes IS 'Sums of the ingestion reports per tenant, kind and minute of started_at; daily partitions';

        CREATE TABLE sluice.report_hours (
            tenant_id  text NOT NULL,
            kind       text NOT NULL,
            hour       timestamptz NOT NULL,
            \(columnDefinitions),
            PRIMARY KEY (tenant_id, hour, kind)
        );
        CREATE INDEX report_hours_hour ON sluice.report_hours (hour);
        COMMENT ON TABLE sluice.report_hours IS 'Sums of the ingestion reports per tenant, kind and hour of started_at: long windows';

        CREATE FUNCTION sluice.add_report_sums() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('\(movingReportsSetting)', true) = 'on' THEN
                RETURN NULL;
            END IF;
            \(upsert(table: "report_minutes", column: "minute", unit: "minute"))
            \(upsert(table: "report_hours", column: "hour", unit: "hour"))
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER ingestion_reports_sums AFTER INSERT ON sluice.ingestion_reports
            REFERENCING NEW TABLE AS new_reports FOR EACH STATEMENT EXECUTE FUNCTION sluice.add_report_sums();
        -- The reports written before this version.
        \(upsert(table: "report_minutes", column: "minute", unit: "minute", from: "sluice.ingestion_reports"))
        \(upsert(table: "report_hours", column: "hour", unit: "hour", from: "sluice.ingestion_reports"))

        CREATE TABLE sluice.readiness_probes (
            at           timestamptz NOT NULL,
            instance_id  text NOT NULL,
            ready        boolean NOT NULL,
            failing      text NOT NULL DEFAULT ''
        ) PARTITION BY RANGE (at);
        CREATE INDEX readiness_probes_at ON sluice.readiness_probes (at);
        CREATE TABLE sluice.readiness_probes_default PARTITION OF sluice.readiness_probes DEFAULT;
        COMMENT ON TABLE sluice.readiness_probes IS 'Readiness as each Sluice process sampled it; daily partitions';

        CREATE TABLE sluice.alerts (
            rule          text NOT NULL,
            fingerprint   text NOT NULL,
            tenant_id     text,
            labels        jsonb NOT NULL,
            annotations   jsonb NOT NULL,
            state         text NOT NULL CHECK (state IN ('pending', 'firing')),
            value         double precision,
            active_at     timestamptz NOT NULL,
            fired_at      timestamptz,
            keep_firing_since timestamptz,
            evaluated_at  timestamptz NOT NULL,
            PRIMARY KEY (rule, fingerprint)
        );
        COMMENT ON TABLE sluice.alerts IS 'Alerts pending or firing now; a resolved alert leaves this table for the history';

        CREATE TABLE sluice.alert_history (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            rule         text NOT NULL,
            fingerprint  text NOT NULL,
            tenant_id    text,
            labels       jsonb NOT NULL,
            annotations  jsonb NOT NULL,
            state        text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved', 'inactive')),
            value        double precision,
            active_at    timestamptz,
            at           timestamptz NOT NULL,
            notified_at  timestamptz
        );
        CREATE INDEX alert_history_at ON sluice.alert_history (at);
        CREATE INDEX alert_history_unnotified ON sluice.alert_history (id)
            WHERE notified_at IS NULL AND state IN ('firing', 'resolved');
        CREATE INDEX alert_history_tenant_at ON sluice.alert_history (tenant_id, at);
        COMMENT ON TABLE sluice.alert_history IS 'Every alert transition: pending, firing, resolved, or inactive (pending that never fired)';
        COMMENT ON COLUMN sluice.alert_history.notified_at IS 'When receivers were given a firing or resolved transition: written first, then sent (an outbox)';

        ALTER TABLE sluice.stream_actions ADD COLUMN cause jsonb;
        ALTER TABLE sluice.stream_actions DROP CONSTRAINT stream_actions_outcome_check;
        ALTER TABLE sluice.stream_actions ADD CONSTRAINT stream_actions_outcome_check
            CHECK (outcome IN ('applied', 'clamped', 'rejected', 'failed'));
        COMMENT ON COLUMN sluice.stream_actions.cause IS 'The alert that caused the action: name, status, labels, value';
        """)
}
