import Foundation
import Logging
import SluiceCommon
import SluiceStore
import SluiceSystem

/// Creates, changes and removes tenants: their stored definition, their table in the core store,
/// their API keys and their staging area. Every change is one transaction (DDL included), so a
/// failed change leaves nothing half-applied.
public struct TenantService: Sendable {
    private let pool: PostgresConnectionPool
    private let staging: StagingArea
    private let logger: Logger
    private let keys: APIKeyCache
    private let credentials: SecretFiles?

    /// `credentials` receives the keys of tenants created from the configuration directory (no log line
    /// ever holds one); without it their keys cannot be read anywhere.
    public init(pool: PostgresConnectionPool, staging: StagingArea, logger: Logger, keys: APIKeyCache = APIKeyCache(),
                credentials: SecretFiles? = nil) {
        self.pool = pool
        self.staging = staging
        self.logger = logger
        self.keys = keys
        self.credentials = credentials
    }

    /// The name of the file in the credentials directory holding the key of a tenant created from configuration.
    public static func keyFileName(_ tenant: String) -> String { "tenant-\(tenant).api-key" }

    /// Creates a tenant with a fresh API key and a schema of its own: `tenant_exists` if the id is taken,
    /// `reserved_tenant_id` for an id that names a schema of PostgreSQL's or Sluice's or a reserved word, and
    /// `schema_exists` when a schema of that name exists without Sluice having created it (it is never adopted).
    public func create(_ parsed: ParsedTenantDefinition, source: String = "api") async throws -> TenantCreation {
        let definition = parsed.definition
        if let reason = TenantDefinition.reservation(of: definition.id) { throw Self.reserved(definition.id, reason) }
        let key = APIKey.generate()
        let json = try Self.encode(definition)
        let storage = TenantStorage(definition: definition)
        let record = try await pool.withTransaction { connection -> TenantRecord in
            let inserted = try connection.query("""
                INSERT INTO sluice.tenants (id, display_name, definition, source, schema_created) VALUES ($1, $2, $3::jsonb, $4, true)
                ON CONFLICT (id) DO NOTHING RETURNING created_at, updated_at
                """, [.init(definition.id), .init(definition.displayName), .init(json), .init(source)])
            guard let row = inserted.first else {
                let deleting = try connection.query("SELECT 1 FROM sluice.tenants WHERE id = $1 AND deleting_since IS NOT NULL",
                                                    [.init(definition.id)]).isEmpty == false
                throw deleting
                    ? ServiceError(.conflict, "tenant_deleting", "the tenant \"\(definition.id)\" is being deleted: repeat the DELETE, then create it")
                    : ServiceError(.conflict, "tenant_exists", "a tenant \"\(definition.id)\" already exists")
            }
            try Self.createSchema(storage, on: connection)
            for statement in storage.createStatements() { _ = try connection.execute(statement) }
            try Self.insertKey(key, tenant: definition.id, on: connection)
            return TenantRecord(definition: definition, source: source,
                                createdAt: try row.decode(Date.self, "created_at") ?? Date(),
                                updatedAt: try row.decode(Date.self, "updated_at") ?? Date())
        }
        _ = try await staging.inDirectory(definition.id)
        _ = try await staging.outDirectory(definition.id)
        logger.info("tenant created", metadata: ["tenant": "\(definition.id)", "source": "\(source)"])
        return TenantCreation(tenant: record, apiKey: key, warnings: parsed.warnings)
    }

    /// Creates the tenant's schema, refusing a reserved word (PostgreSQL's own list) and a schema that exists.
    private static func createSchema(_ storage: TenantStorage, on connection: PostgresConnection) throws {
        let id = storage.definition.id
        let found = try connection.query("""
            SELECT EXISTS (SELECT 1 FROM pg_get_keywords() WHERE word = $1 AND catcode = 'R') AS keyword,
                   EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema
            """, [.init(id)]).first
        if try found?.decode(Bool.self, "keyword") == true { throw reserved(id, "it is a reserved word of SQL") }
        var exists = try found?.decode(Bool.self, "schema") != false
        if !exists {
            do {
                _ = try connection.execute(storage.createSchemaStatement)
            } catch let error as PostgresError where error.sqlState == "42P06" {
                exists = true  // created meanwhile by someone else
            }
        }
        guard !exists else {
            throw ServiceError(.conflict, "schema_exists", """
                the database already has a schema "\(id)" that Sluice did not create: it is never taken over; \
                choose another tenant id, or drop or rename that schema
                """)
        }
    }

    private static func reserved(_ id: String, _ reason: String) -> ServiceError {
        ServiceError(.unprocessable, "reserved_tenant_id", "the tenant id \"\(id)\" is reserved: \(reason)")
    }

    /// Replaces a tenant's definition, evolving its table in place when the schema change is compatible.
    public func replace(_ parsed: ParsedTenantDefinition, source: String = "api") async throws -> TenantRecord {
        let definition = parsed.definition
        let json = try Self.encode(definition)
        return try await pool.withTransaction { connection -> TenantRecord in
            let current = try connection.query(
                "SELECT definition::text AS definition, created_at FROM sluice.tenants WHERE id = $1 AND deleting_since IS NULL FOR UPDATE",
                [.init(definition.id)])
            guard let row = current.first, let stored = try row.decode(String.self, "definition") else {
                throw ServiceError.tenantNotFound(definition.id)
            }
            let old = try Self.decode(stored)
            let alterations: [String]
            do throws(TenantDefinitionError) {
                alterations = try TenantStorage.evolution(from: old, to: definition)
            } catch {
                throw ServiceError(.conflict, error.code.rawValue, "the new definition cannot be applied to the existing table",
                                   details: error.problems)
            }
            for statement in alterations { _ = try connection.execute(statement) }
            let updated = try connection.query("""
                UPDATE sluice.tenants SET display_name = $2, definition = $3::jsonb, source = $4, updated_at = now()
                WHERE id = $1 RETURNING updated_at
                """, [.init(definition.id), .init(definition.displayName), .init(json), .init(source)])
            return TenantRecord(definition: definition, source: source,
                                createdAt: try row.decode(Date.self, "created_at") ?? Date(),
                                updatedAt: try updated.first?.decode(Date.self, "updated_at") ?? Date())
        }
    }

    /// The tenant, or `tenant_not_found` (also while it is being deleted).
    public func get(_ id: String) async throws -> TenantRecord {
        let rows = try await pool.query(
            "SELECT definition::text AS definition, source, created_at, updated_at FROM sluice.tenants WHERE id = $1 AND deleting_since IS NULL",
            [.init(id)])
        guard let row = rows.first else { throw ServiceError.tenantNotFound(id) }
        return try Self.record(row)
    }

    /// Every tenant, ordered by id.
    public func list() async throws -> [TenantRecord] {
        try await pool.query(
            "SELECT definition::text AS definition, source, created_at, updated_at FROM sluice.tenants WHERE deleting_since IS NULL ORDER BY id"
        ).map(Self.record)
    }

    /// Every tenant's metadata, by id, without reading whole definitions.
    public func metadata() async throws -> [String: [String: String]] {
        let rows = try await pool.query(
            "SELECT id, coalesce(definition->'metadata', '{}')::text AS metadata FROM sluice.tenants WHERE deleting_since IS NULL")
        var result: [String: [String: String]] = [:]
        for row in rows {
            guard let id = try row.decode(String.self, "id") else { continue }
            let text = try row.decode(String.self, "metadata") ?? "{}"
            result[id] = (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
        }
        return result
    }

    /// The tenants with an ingestion schedule and their cron expressions, without reading whole definitions.
    public func schedules() async throws -> [(tenant: String, cron: String)] {
        try await pool.query("""
            SELECT id, definition #>> '{service_agreement,schedule}' AS cron FROM sluice.tenants
            WHERE deleting_since IS NULL AND definition #>> '{service_agreement,schedule}' IS NOT NULL ORDER BY id
            """).compactMap { row in
            guard let id = try row.decode(String.self, "id"), let cron = try row.decode(String.self, "cron") else { return nil }
            return (id, cron)
        }
    }

    /// Removes the tenant with its table, ledger, keys and staged files, stopping its work first, so no wait
    /// can close a cycle (an upload publishing, an ingest holding the table, the drop waiting on both):
    /// 1. marks it as being deleted, after publications in progress (from then on it is gone for uploads,
    ///    claims and the API, and no new file or ingest of it starts);
    /// 2. `stopLocalWork` ends what this process does for it without a statement to cancel (ingests
    ///    following its uploads), and the store sessions holding its ingest lock, in any process, are ended;
    /// 3. drops it in one transaction, under its exclusive ingest lock.
    /// Every wait is bounded by the store's lock timeout; after a timeout (`503`) the tenant stays marked
    /// and a repeated delete carries on.
    public func delete(_ id: String, stopLocalWork: @Sendable (String) -> Void = { _ in }) async throws {
        try await pool.withTransaction { connection in
            _ = try connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.init(Self.uploadLock(id))])
            let marked = try connection.execute(
                "UPDATE sluice.tenants SET deleting_since = coalesce(deleting_since, now()) WHERE id = $1", [.init(id)])
            guard marked == 1 else { throw ServiceError.tenantNotFound(id) }
        }
        keys.forget(tenant: id)
        stopLocalWork(id)
        try await pool.withTransaction { connection in
            // An ingest that looked the tenant up before it was marked may take the lock after a round: a few
            // rounds end those too, and the blocking wait after them is for sessions already ending.
            for _ in 0..<5 {
                let taken = try connection.query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS taken",
                                                 [.init(Self.ingestLock(id))]).first?.decode(Bool.self, "taken") == true
                if taken { break }
                let ended = try connection.query("""
                    SELECT count(pg_terminate_backend(l.pid))::int AS n
                    FROM pg_locks l, (SELECT hashtextextended($1, 0) AS k) lock
                    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.pid <> pg_backend_pid()
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND l.classid::bigint = (lock.k >> 32) & 4294967295 AND l.objid::bigint = lock.k & 4294967295
                    """, [.init(Self.ingestLock(id))]).first?.decode(Int.self, "n") ?? 0
                logger.info("ended the store sessions ingesting a tenant being deleted", metadata: ["tenant": "\(id)", "sessions": "\(ended)"])
                Thread.sleep(forTimeInterval: 0.05)
            }
            _ = try connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.init(Self.ingestLock(id))])
            let created = try connection.query("DELETE FROM sluice.tenants WHERE id = $1 RETURNING schema_created", [.init(id)])
                .first?.decode(Bool.self, "schema_created") == true
            if created {
                _ = try connection.execute("DROP SCHEMA IF EXISTS \(PostgresIdentifier.quote(id)) CASCADE")
            } else {
                logger.warning("the tenant's schema was not created by Sluice and is left in place", metadata: ["tenant": "\(id)"])
            }
            try IngestionReports.deleteTenant(id, on: connection)
        }
        try await staging.removeTenant(id)
        try await forgetKeyFile(of: id)
        logger.info("tenant deleted", metadata: ["tenant": "\(id)"])
    }

    /// The advisory lock a tenant's file publications take, exclusively, one at a time.
    static func uploadLock(_ tenant: String) -> String { "sluice.upload:" + tenant }
    /// The advisory lock a tenant's ingests hold until they commit (see `FileIngestor`).
    static func ingestLock(_ tenant: String) -> String { "sluice.ingest:" + tenant }

    /// Replaces every key of the tenant with a new one; old keys stop working at once.
    public func rotateKey(_ id: String) async throws -> String {
        let key = APIKey.generate()
        try await pool.withTransaction { connection in
            guard try !connection.query("SELECT 1 FROM sluice.tenants WHERE id = $1 AND deleting_since IS NULL FOR UPDATE",
                                        [.init(id)]).isEmpty else {
                throw ServiceError.tenantNotFound(id)
            }
            _ = try connection.execute("DELETE FROM sluice.api_keys WHERE tenant_id = $1", [.init(id)])
            try Self.insertKey(key, tenant: id, on: connection)
        }
        keys.forget(tenant: id)
        try await forgetKeyFile(of: id)
        logger.info("tenant API key rotated", metadata: ["tenant": "\(id)"])
        return key
    }

    /// The tenant a key belongs to, if any; answered from the key cache when it knows.
    public func tenant(forKey key: String) async throws -> String? {
        let hash = APIKey.hash(key)
        if case .known(let cached) = keys.lookup(hash: hash) { return cached }
        let tenant = try await pool.query("SELECT tenant_id FROM sluice.api_keys WHERE key_hash = $1", [.init(hash)])
            .first?.decode(String.self, "tenant_id")
        keys.store(hash: hash, tenant: tenant)
        return tenant
    }

    /// What the key cache knows of `key`.
    public func cachedAnswer(forKey key: String) -> APIKeyCache.Answer {
        keys.lookup(hash: APIKey.hash(key))
    }

    /// Applies the definitions in `directory/tenants/*.{yaml,yml,json}`: creates new tenants (writing their
    /// key to the credentials directory, ``keyFileName(_:)``, and logging where), replaces changed ones and leaves
    /// unchanged ones alone. Any invalid file fails the whole load, listing its problems, before anything is applied.
    public func applyConfigurationDirectory(_ directory: String) async throws {
        let parsed = try await runOnDedicatedThread(name: "sluice-config") {
            try ConfigurationDirectory.tenantDefinitions(in: directory)
        }
        for (file, definition) in parsed {
            let source = "config:\(file)"
            do {
                let existing = try await get(definition.definition.id)
                guard existing.definition != definition.definition else { continue }
                _ = try await replace(definition, source: source)
                logger.info("tenant updated from configuration", metadata: ["tenant": "\(definition.definition.id)"])
            } catch let error as ServiceError where error.code == "tenant_not_found" {
                do {
                    let created = try await create(definition, source: source)
                    let tenant = created.tenant.id
                    if let credentials {
                        try await runOnDedicatedThread(name: "sluice-credentials") {
                            try credentials.write(Self.keyFileName(tenant), created.apiKey)
                        }
                        logger.notice("tenant created from configuration; its API key is in the credentials directory",
                                      metadata: ["tenant": "\(tenant)", "key_file": "\(credentials.path(Self.keyFileName(tenant)))"])
                    } else {
                        logger.notice("tenant created from configuration; rotate its key to get one",
                                      metadata: ["tenant": "\(tenant)"])
                    }
                } catch let error as ServiceError where error.code == "tenant_exists" {
                    // Another instance starting at the same time created it from the same file.
                    continue
                } catch let error as ServiceError where error.code == "tenant_deleting" {
                    logger.warning("a configured tenant is still being deleted: repeat its DELETE, and restart to create it again",
                                   metadata: ["tenant": "\(definition.definition.id)", "file": "\(file)"])
                }
            }
        }
    }

    // MARK: Private

    /// Removes the key file of a tenant created from configuration once its key no longer works.
    private func forgetKeyFile(of tenant: String) async throws {
        guard let credentials else { return }
        try await runOnDedicatedThread(name: "sluice-credentials") { try credentials.remove(Self.keyFileName(tenant)) }
    }

    private static func insertKey(_ key: String, tenant: String, on connection: PostgresConnection) throws {
        _ = try connection.execute("INSERT INTO sluice.api_keys (key_hash, tenant_id, key_prefix) VALUES ($1, $2, $3)",
                                   [.init(APIKey.hash(key)), .init(tenant), .init(APIKey.prefix(key))])
    }

    private static func record(_ row: PostgresRow) throws -> TenantRecord {
        TenantRecord(definition: try decode(try row.decode(String.self, "definition") ?? "{}"),
                     source: try row.decode(String.self, "source") ?? "api",
                     createdAt: try row.decode(Date.self, "created_at") ?? Date(),
                     updatedAt: try row.decode(Date.self, "updated_at") ?? Date())
    }

    static func encode(_ definition: TenantDefinition) throws -> String {
        String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
    }

    /// Stored definitions were validated on the way in; failing to read one back is a bug.
    static func decode(_ json: String) throws -> TenantDefinition {
        do {
            return try TenantDefinitionParser.parse(Array(json.utf8), format: .json).definition
        } catch {
            throw ServiceError(.unavailable, "stored_definition_invalid", "a stored tenant definition no longer parses",
                               details: error.problems)
        }
    }
}
