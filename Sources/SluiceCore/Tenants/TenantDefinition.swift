/// Everything Sluice knows about one tenant: the shape of its data, its limits, its service agreement
/// and the ingest app that turns its files into rows.
///
/// Build one with ``TenantDefinitionParser``; it encodes back to JSON in the native layout, so what an
/// API returns can be submitted again unchanged.
public struct TenantDefinition: Sendable, Equatable {
    /// The pattern tenant ids must match; an id names a PostgreSQL schema and a directory.
    public static let idPattern = "^[a-z][a-z0-9_-]{0,62}$"

    /// The tenant's slug, e.g. `tenant-a`.
    public var id: String
    /// A human-readable name.
    public var displayName: String
    /// Free-form annotations, e.g. the seeds' `key_space`.
    public var metadata: [String: String]
    /// The file types the tenant may upload.
    public var fileTypes: [FileType]
    /// How CSV files are read.
    public var csv: CSVOptions
    /// The record schema; its name is the target table's name.
    public var schema: AvroRecordSchema
    /// The fields forming the table's primary key, in order.
    public var primaryKey: [String]
    /// Limits on uploads and storage.
    public var constraints: Constraints
    /// Retention, schedule and resources of ingestion.
    public var serviceAgreement: ServiceAgreement
    /// The app that turns staged files into rows.
    public var ingestApp: IngestApp
    /// The app of the stream path when it differs from ``ingestApp`` (`stream_app`).
    public var streamApp: IngestApp?

    public init(
        id: String, displayName: String, metadata: [String: String] = [:], fileTypes: [FileType],
        csv: CSVOptions = CSVOptions(), schema: AvroRecordSchema, primaryKey: [String],
        constraints: Constraints = Constraints(), serviceAgreement: ServiceAgreement = ServiceAgreement(),
        ingestApp: IngestApp = IngestApp(), streamApp: IngestApp? = nil
    ) {
        self.id = id
        self.displayName = displayName
        self.metadata = metadata
        self.fileTypes = fileTypes
        self.csv = csv
        self.schema = schema
        self.primaryKey = primaryKey
        self.constraints = constraints
        self.serviceAgreement = serviceAgreement
        self.ingestApp = ingestApp
        self.streamApp = streamApp
    }

    /// The app stream messages go through: `stream_app`, else the batch path's `ingest_app`.
    public var effectiveStreamApp: IngestApp { streamApp ?? ingestApp }

    /// Whether `id` is a valid tenant id (see ``idPattern``).
    /// Why `id` cannot be a tenant's (it names, or may one day name, a schema of PostgreSQL's or Sluice's), or
    /// `nil`. SQL's reserved words are refused too, by the store, which knows its version's list.
    public static func reservation(of id: String) -> String? {
        if ["public", "information_schema"].contains(id) || id.hasPrefix("pg_") { return "PostgreSQL uses that schema name" }
        if id == PlatformSchema.name || id.hasPrefix(PlatformSchema.name + "_") { return "Sluice uses that schema name" }
        return nil
    }

    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              bytes.count <= 63 else { return false }
        return bytes.dropFirst().allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

/// A file format a tenant may upload, optionally gzip-compressed; written `csv`, `ndjson.gz`, ...
public struct FileType: Sendable, Hashable, CustomStringConvertible {
    /// The format of the (uncompressed) content.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// Comma-separated values (see ``CSVOptions``).
        case csv
        /// One JSON object per line; `jsonl` is accepted as an alias.
        case ndjson
        /// A single JSON array of objects.
        case json
    }

    public var format: Format
    /// Whether the content is gzip-compressed.
    public var gzip: Bool

    public init(_ format: Format, gzip: Bool = false) {
        self.format = format
        self.gzip = gzip
    }

    /// Parses `csv`, `csv.gz`, `ndjson`, `jsonl`, `json.gz`, ...
    public init?(_ text: String) {
        var name = Substring(text)
        let gzip = name.hasSuffix(".gz")
        if gzip { name = name.dropLast(3) }
        if name == "jsonl" { name = "ndjson" }
        guard let format = Format(rawValue: String(name)) else { return nil }
        self.init(format, gzip: gzip)
    }

    public var description: String { format.rawValue + (gzip ? ".gz" : "") }
}

/// How CSV files are read.
public struct CSVOptions: Sendable, Equatable {
    /// Whether the first row names the columns.
    public var header: Bool
    /// The field separator, a single ASCII byte.
    public var delimiter: UInt8
    /// The quote character, a single ASCII byte.
    public var quote: UInt8

    public init(header: Bool = true, delimiter: UInt8 = UInt8(ascii: ","), quote: UInt8 = UInt8(ascii: "\"")) {
        self.header = header
        self.delimiter = delimiter
        self.quote = quote
    }
}

/// Limits on a tenant's uploads and storage.
public struct Constraints: Sendable, Equatable {
    /// The largest accepted file, in bytes (default 100 MiB).
    public var maxFileSizeBytes: Int
    /// How many files may wait in staging at once (default 1000).
    public var maxStagedFiles: Int
    /// The most bytes the tenant may keep staged and stored (default 10 GiB).
    public var storageQuotaBytes: Int
    /// The upload rate limit; `nil` means unlimited.
    public var maxIngestRate: IngestRate?
    /// The stream message rate limit; `nil` means unlimited.
    public var maxStreamRate: StreamRate?

    public init(
        maxFileSizeBytes: Int = 100 << 20, maxStagedFiles: Int = 1000, storageQuotaBytes: Int = 10 << 30,
        maxIngestRate: IngestRate? = nil, maxStreamRate: StreamRate? = nil
    ) {
        self.maxFileSizeBytes = maxFileSizeBytes
        self.maxStagedFiles = maxStagedFiles
        self.storageQuotaBytes = storageQuotaBytes
        self.maxIngestRate = maxIngestRate
        self.maxStreamRate = maxStreamRate
    }
}

/// A token-bucket rate limit on uploaded bytes.
public struct IngestRate: Sendable, Equatable {
    /// The sustained rate.
    public var bytesPerSecond: Int
    /// The bucket size: how many bytes may arrive at once.
    public var burstBytes: Int

    public init(bytesPerSecond: Int, burstBytes: Int) {
        self.bytesPerSecond = bytesPerSecond
        self.burstBytes = burstBytes
    }
}

/// How Sluice runs ingestion for a tenant.
public struct ServiceAgreement: Sendable, Equatable {
    /// How long ingested data is kept, in days (default 30).
    public var dataRetentionDays: Int
    /// When ingestion runs; `nil` means as soon as a file arrives.
    public var schedule: CronSchedule?
    /// The resources one ingestion run may use.
    public var resources: AppResources
    /// Whether the tenant's external apps may reach the network (default: no, not even loopback).
    public var network: Bool
    /// Instances and bounds of the stream path.
    public var stream: StreamAgreement

    public init(dataRetentionDays: Int = 30, schedule: CronSchedule? = nil, resources: AppResources = AppResources(),
                network: Bool = false, stream: StreamAgreement = StreamAgreement()) {
        self.dataRetentionDays = dataRetentionDays
        self.schedule = schedule
        self.resources = resources
        self.network = network
        self.stream = stream
    }
}

/// The resources granted to a tenant's ingest app.
public struct AppResources: Sendable, Equatable {
    /// How many files may be ingested at once.
    public var concurrency: Int
    /// The memory limit of one run, in bytes.
    public var memoryLimitBytes: Int
    /// The CPU time limit of one run, in seconds.
    public var cpuTimeLimitSeconds: Int
    /// The wall-clock limit of one run, in seconds.
    public var timeoutSeconds: Int
    /// How many processes an external app's sandbox may hold at once (its own included).
    public var processLimit: Int
    /// The largest file an external app may write, in bytes.
    public var fileSizeLimitBytes: Int
    /// The CPU cores granted (Kubernetes `limits.cpu`), if given.
    public var cpuCores: Double?

    public init(
        concurrency: Int = 1, memoryLimitBytes: Int = 512 << 20, cpuTimeLimitSeconds: Int = 300,
        timeoutSeconds: Int = 600, processLimit: Int = 64, fileSizeLimitBytes: Int = 1 << 30, cpuCores: Double? = nil
    ) {
        self.concurrency = concurrency
        self.memoryLimitBytes = memoryLimitBytes
        self.cpuTimeLimitSeconds = cpuTimeLimitSeconds
        self.timeoutSeconds = timeoutSeconds
        self.processLimit = processLimit
        self.fileSizeLimitBytes = fileSizeLimitBytes
        self.cpuCores = cpuCores
    }
}
