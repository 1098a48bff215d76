import SluiceStore

/// The PostgreSQL objects holding a tenant's data: schema `<id>` with one table named after the
/// record, a column per field plus the lineage columns, and an index to find a source's rows.
///
/// Every identifier goes through `PostgresIdentifier.quote`; field defaults are applied when records
/// are validated, never in DDL.
public struct TenantStorage: Sendable {
    /// Lineage: the id of the file or stream window a row came from.
    public static let sourceIDColumn = "_sluice_source_id"
    /// Lineage: when the row was written.
    public static let ingestedAtColumn = "_sluice_ingested_at"
    /// Field names may not start with this prefix, reserved for lineage columns.
    public static let reservedPrefix = "_sluice_"

    public let definition: TenantDefinition

    public init(definition: TenantDefinition) {
        self.definition = definition
    }

    /// The tenant's PostgreSQL schema: its id.
    public static func schemaName(for definition: TenantDefinition) -> String {
        definition.id
    }

    /// The tenant's table: the record schema's name.
    public static func tableName(for definition: TenantDefinition) -> String {
        definition.schema.name
    }

    /// The quoted, schema-qualified table name.
    public var qualifiedTableName: String {
        PostgresIdentifier.qualified(Self.schemaName(for: definition), Self.tableName(for: definition))
    }

    /// The name of the index on ``sourceIDColumn``, kept within PostgreSQL's 63-byte limit.
    public var sourceIndexName: String {
        let suffix = "_source_idx"
        var prefix = Self.tableName(for: definition)
        while prefix.utf8.count + suffix.utf8.count > DefinitionReader.maxIdentifierBytes { prefix.removeLast() }
        return prefix + suffix
    }

    /// Creates the tenant's schema; fails (`42P06`) if a schema of that name exists.
    public var createSchemaStatement: String {
        "CREATE SCHEMA \(PostgresIdentifier.quote(Self.schemaName(for: definition)))"
    }

    /// Idempotent statements creating the table and its source index in the tenant's schema.
    public func createStatements() -> [String] {
        var columns = definition.schema.fields.map(Self.columnDefinition)
        columns.append("\(PostgresIdentifier.quote(Self.sourceIDColumn)) text NOT NULL")
        columns.append("\(PostgresIdentifier.quote(Self.ingestedAtColumn)) timestamptz NOT NULL DEFAULT now()")
        columns.append("PRIMARY KEY (\(definition.primaryKey.map(PostgresIdentifier.quote).joined(separator: ", ")))")
        return [
            "CREATE TABLE IF NOT EXISTS \(qualifiedTableName) (\n    \(columns.joined(separator: ",\n    "))\n)",
            "CREATE INDEX IF NOT EXISTS \(PostgresIdentifier.quote(sourceIndexName)) ON \(qualifiedTableName) "
                + "(\(PostgresIdentifier.quote(Self.sourceIDColumn)))",
        ]
    }

    /// The statements moving a table created for `old` to `new`, or an `incompatible_schema_change`
    /// error listing every change that cannot be applied to existing rows.
    ///
    /// Allowed: adding nullable fields and making required fields nullable. Refused: a changed id or
    /// table name, a changed primary key, removed fields, changed types, fields becoming required and
    /// new required fields.
    public static func evolution(from old: TenantDefinition, to new: TenantDefinition) throws(TenantDefinitionError) -> [String] {
        var problems: [String] = []
        if old.id != new.id { problems.append("id: cannot change from \"\(old.id)\" to \"\(new.id)\"") }
        if old.schema.name != new.schema.name {
            problems.append("schema.name: the table name cannot change from \"\(old.schema.name)\" to \"\(new.schema.name)\"")
        }
        if old.primaryKey != new.primaryKey {
            problems.append("primary_key: cannot change from \(old.primaryKey) to \(new.primaryKey)")
        }
        for (index, field) in old.schema.fields.enumerated() where new.schema.field(named: field.name) == nil {
            problems.append("schema.fields[\(index)]: field \"\(field.name)\" cannot be removed (it is field \(index) of the current schema)")
        }
        let table = PostgresIdentifier.qualified(schemaName(for: old), tableName(for: old))
        var statements: [String] = []
        for (index, field) in new.schema.fields.enumerated() {
            let path = "schema.fields[\(index)]"
            let column = PostgresIdentifier.quote(field.name)
            guard let previous = old.schema.field(named: field.name) else {
                if field.nullable {
                    statements.append("ALTER TABLE \(table) ADD COLUMN IF NOT EXISTS \(column) \(field.type.postgresType)")
                } else {
                    problems.append("\(path): new field \"\(field.name)\" must be nullable, as existing rows have no value")
                }
                continue
            }
            if previous.type != field.type {
                problems.append("\(path).type: the type of \"\(field.name)\" cannot change from \(previous.type) to \(field.type)")
            }
            if previous.nullable && !field.nullable {
                problems.append("\(path): nullable field \"\(field.name)\" cannot become required")
            } else if !previous.nullable && field.nullable {
                statements.append("ALTER TABLE \(table) ALTER COLUMN \(column) DROP NOT NULL")
            }
        }
        guard problems.isEmpty else { throw TenantDefinitionError(code: .incompatibleSchemaChange, problems: problems) }
        return statements
    }

    private static func columnDefinition(_ field: AvroField) -> String {
        PostgresIdentifier.quote(field.name) + " " + field.type.postgresType + (field.nullable ? "" : " NOT NULL")
    }
}
