extension DefinitionReader {
    /// The native layout, as `examples/tenants/*.yaml` and ``TenantDefinition``'s JSON encoding use.
    mutating func nativeLayout(_ root: JSONValue) -> TenantDefinition? {
        let keys = [
            "id", "name", "metadata", "file_types", "csv", "schema", "primary_key", "constraints",
            "service_agreement", "ingest_app", "stream_app",
        ]
        guard let members = object(root, at: "", allowed: keys) else { return nil }
        let id = required(members["id"], at: "id").flatMap { tenantID($0, at: "id") }
        let name = members["name"].flatMap { string($0, at: "name") }
        let metadata = members["metadata"].map { self.metadata($0, at: "metadata") } ?? [:]
        let fileTypes = members["file_types"].map { self.fileTypes($0, at: "file_types") } ?? [FileType(.csv)]
        let csv = members["csv"].map { csvOptions($0, at: "csv") } ?? CSVOptions()
        let schemaReading = required(members["schema"], at: "schema").map { self.schema($0, at: "schema") } ?? SchemaReading()
        let primaryKey = required(members["primary_key"], at: "primary_key").flatMap {
            self.primaryKey($0, at: "primary_key", schema: schemaReading)
        }
        let constraints = members["constraints"].map { self.constraints($0, at: "constraints") } ?? Constraints()
        var agreement = ServiceAgreement()
        if let value = members["service_agreement"] {
            let allowed = ["data_retention_period_days", "schedule", "resources", "network", "stream"]
            if let agreementMembers = object(value, at: "service_agreement", allowed: allowed) {
                agreement = agreementFields(agreementMembers, at: "service_agreement")
            }
        }
        let app = members["ingest_app"].map { ingestApp($0, at: "ingest_app") } ?? IngestApp()
        let streamApp = members["stream_app"].map { ingestApp($0, at: "stream_app") }
        guard let id, let fileTypes, let schema = schemaReading.schema, let primaryKey else { return nil }
        for (path, message) in RecordPipeline.problems(of: app, schema: schema) { problem(path, message) }
        if let streamApp {
            for (path, message) in RecordPipeline.problems(of: streamApp, schema: schema, path: "stream_app") { problem(path, message) }
        }
        return TenantDefinition(
            id: id, displayName: name ?? id, metadata: metadata, fileTypes: fileTypes, csv: csv, schema: schema,
            primaryKey: primaryKey, constraints: constraints, serviceAgreement: agreement, ingestApp: app, streamApp: streamApp)
    }

    /// The seed documents' layout: `data_file_configuration` plus a `service_agreement` naming the `client`.
    mutating func seedLayout(_ root: JSONValue) -> TenantDefinition? {
        guard let members = object(root, at: "", allowed: ["data_file_configuration", "service_agreement"]),
              let dataValue = required(members["data_file_configuration"], at: "data_file_configuration"),
              let agreementValue = required(members["service_agreement"], at: "service_agreement") else { return nil }

        let dataPath = "data_file_configuration"
        let headerKey = "csv.first.row.as.header"
        let dataKeys = ["name", "file_type", "key_space", headerKey, "schema", "primary_key", "max_file_size_mb"]
        let data = object(dataValue, at: dataPath, allowed: dataKeys)
        let name = data.flatMap { required($0["name"], at: Self.path(dataPath, "name")) }
            .flatMap { string($0, at: Self.path(dataPath, "name")) }
        let typePath = Self.path(dataPath, "file_type")
        var fileTypes: [FileType]?
        if let typeName = data.flatMap({ required($0["file_type"], at: typePath) }).flatMap({ string($0, at: typePath) }) {
            fileTypes = FileType(typeName).map { [$0] }
            if fileTypes == nil { problem(typePath, FileType.unknownMessage(typeName)) }
        }
        var metadata: [String: String] = [:]
        if let keySpace = data?["key_space"].flatMap({ string($0, at: Self.path(dataPath, "key_space")) }) {
            metadata["key_space"] = keySpace
        }
        var csv = CSVOptions()
        if let header = data?[headerKey].flatMap({ bool($0, at: Self.path(dataPath, headerKey)) }) {
            csv.header = header
        }
        let schemaPath = Self.path(dataPath, "schema")
        let schemaReading = data.flatMap { required($0["schema"], at: schemaPath) }.map { self.schema($0, at: schemaPath) }
            ?? SchemaReading()
        let keyPath = Self.path(dataPath, "primary_key")
        let primaryKey = data.flatMap { required($0["primary_key"], at: keyPath) }.flatMap {
            self.primaryKey($0, at: keyPath, schema: schemaReading)
        }
        var constraints = Constraints()
        let sizePath = Self.path(dataPath, "max_file_size_mb")
        if let megabytes = data?["max_file_size_mb"].flatMap({ integer($0, at: sizePath, minimum: 1) }) {
            constraints.maxFileSizeBytes = megabytes << 20
        }

        let agreementPath = "service_agreement"
        let agreementKeys = ["client", "data_retention_period_days", "schedule", "resources", "network"]
        let agreementMembers = object(agreementValue, at: agreementPath, allowed: agreementKeys)
        let clientPath = Self.path(agreementPath, "client")
        let id = agreementMembers.flatMap { required($0["client"], at: clientPath) }.flatMap { tenantID($0, at: clientPath) }
        let agreement = agreementMembers.map { agreementFields($0, at: agreementPath) } ?? ServiceAgreement()

        guard let id, let name, let fileTypes, let schema = schemaReading.schema, let primaryKey else { return nil }
        return TenantDefinition(
            id: id, displayName: name, metadata: metadata, fileTypes: fileTypes, csv: csv, schema: schema,
            primaryKey: primaryKey, constraints: constraints, serviceAgreement: agreement)
    }

    private mutating func tenantID(_ value: JSONValue, at path: String) -> String? {
        guard let id = string(value, at: path, allowEmpty: true) else { return nil }
        guard TenantDefinition.isValidID(id) else {
            problem(path, "must match \(TenantDefinition.idPattern)")
            return nil
        }
        return id
    }

    private mutating func metadata(_ value: JSONValue, at path: String) -> [String: String] {
        guard case .object(let members) = value else {
            problem(path, "must be an object, not \(value.kindName)")
            return [:]
        }
        var result: [String: String] = [:]
        for (key, item) in members {
            if let text = string(item, at: Self.path(path, key), allowEmpty: true) { result[key] = text }
        }
        return result
    }
}
