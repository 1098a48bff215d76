// JSON output in the native layout, so that an encoded definition parses back to an equal one.

extension TenantDefinition: Encodable {
    private enum CodingKeys: String, CodingKey {
        case id, name, metadata, csv, schema, constraints
        case fileTypes = "file_types"
        case primaryKey = "primary_key"
        case serviceAgreement = "service_agreement"
        case ingestApp = "ingest_app"
        case streamApp = "stream_app"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(displayName, forKey: .name)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(fileTypes, forKey: .fileTypes)
        try container.encode(csv, forKey: .csv)
        try container.encode(schema, forKey: .schema)
        try container.encode(primaryKey, forKey: .primaryKey)
        try container.encode(constraints, forKey: .constraints)
        try container.encode(serviceAgreement, forKey: .serviceAgreement)
        try container.encode(ingestApp, forKey: .ingestApp)
        try container.encodeIfPresent(streamApp, forKey: .streamApp)
    }
}

extension FileType: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension CSVOptions: Encodable {
    private enum CodingKeys: String, CodingKey { case header, delimiter, quote }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(header, forKey: .header)
        try container.encode(String(UnicodeScalar(delimiter)), forKey: .delimiter)
        try container.encode(String(UnicodeScalar(quote)), forKey: .quote)
    }
}

extension AvroRecordSchema: Encodable {
    private enum CodingKeys: String, CodingKey { case type, name, doc, fields }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("record", forKey: .type)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(doc, forKey: .doc)
        try container.encode(fields, forKey: .fields)
    }
}

extension AvroField: Encodable {
    private enum CodingKeys: String, CodingKey {
        case name, type, doc
        case defaultValue = "default"
    }

    /// The Avro type: `"int"`, `{"type": "int", "logicalType": "date"}`, wrapped in `["null", T]` if nullable.
    public var avroType: JSONValue {
        let base: JSONValue = type.logicalType.map {
            .object(["type": .string(type.avroPrimitive), "logicalType": .string($0)])
        } ?? .string(type.rawValue)
        return nullable ? .array([.string("null"), base]) : base
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(avroType, forKey: .type)
        try container.encodeIfPresent(defaultValue, forKey: .defaultValue)
        try container.encodeIfPresent(doc, forKey: .doc)
    }
}

extension Constraints: Encodable {
    private enum CodingKeys: String, CodingKey {
        case maxFileSize = "max_file_size"
        case maxStagedFiles = "max_staged_files"
        case storageQuota = "storage_quota"
        case maxIngestRate = "max_ingest_rate"
        case maxStreamRate = "max_stream_rate"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(maxFileSizeBytes, forKey: .maxFileSize)
        try container.encode(maxStagedFiles, forKey: .maxStagedFiles)
        try container.encode(storageQuotaBytes, forKey: .storageQuota)
        try container.encodeIfPresent(maxIngestRate, forKey: .maxIngestRate)
        try container.encodeIfPresent(maxStreamRate, forKey: .maxStreamRate)
    }
}

extension IngestRate: Encodable {
    private enum CodingKeys: String, CodingKey {
        case bytesPerSecond = "bytes_per_second"
        case burst
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(bytesPerSecond, forKey: .bytesPerSecond)
        try container.encode(burstBytes, forKey: .burst)
    }
}

extension ServiceAgreement: Encodable {
    private enum CodingKeys: String, CodingKey {
        case dataRetentionDays = "data_retention_period_days"
        case schedule, resources, network, stream
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dataRetentionDays, forKey: .dataRetentionDays)
        try container.encodeIfPresent(schedule?.expression, forKey: .schedule)
        try container.encode(resources, forKey: .resources)
        try container.encode(network, forKey: .network)
        try container.encode(stream, forKey: .stream)
    }
}

extension AppResources: Encodable {
    private enum CodingKeys: String, CodingKey {
        case concurrency
        case memoryLimit = "memory_limit"
        case cpuTimeLimitSeconds = "cpu_time_limit_seconds"
        case timeoutSeconds = "timeout_seconds"
        case processLimit = "process_limit"
        case fileSizeLimit = "file_size_limit"
        case cpuCores = "cpu_cores"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(concurrency, forKey: .concurrency)
        try container.encode(memoryLimitBytes, forKey: .memoryLimit)
        try container.encode(cpuTimeLimitSeconds, forKey: .cpuTimeLimitSeconds)
        try container.encode(timeoutSeconds, forKey: .timeoutSeconds)
        try container.encode(processLimit, forKey: .processLimit)
        try container.encode(fileSizeLimitBytes, forKey: .fileSizeLimit)
        try container.encodeIfPresent(cpuCores, forKey: .cpuCores)
    }
}

extension IngestApp: Encodable {
    private enum CodingKeys: String, CodingKey {
        case kind, steps, quality, command, output
        case onConflict = "on_conflict"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encode(onConflict.rawValue, forKey: .onConflict)
        switch kind {
        case .declarative:
            try container.encode(steps, forKey: .steps)
            try container.encode(quality, forKey: .quality)
        case .external:
            try container.encode(command, forKey: .command)
            try container.encode(output.rawValue, forKey: .output)
        }
    }
}
