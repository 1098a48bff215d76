extension DefinitionReader {
    mutating func fileTypes(_ value: JSONValue, at path: String) -> [FileType]? {
        guard let names = strings(value, at: path) else { return nil }
        if names.isEmpty { problem(path, "must list at least one file type") }
        var types: [FileType] = []
        for (index, name) in names.enumerated() {
            guard let type = FileType(name) else {
                problem(Self.path(path, index), FileType.unknownMessage(name))
                continue
            }
            if types.contains(type) {
                problem(Self.path(path, index), "\"\(name)\" is listed twice")
                continue
            }
            types.append(type)
        }
        return types.count == names.count && !types.isEmpty ? types : nil
    }

    mutating func csvOptions(_ value: JSONValue, at path: String) -> CSVOptions {
        var options = CSVOptions()
        guard let members = object(value, at: path, allowed: ["header", "delimiter", "quote"]) else { return options }
        if let header = members["header"].flatMap({ bool($0, at: Self.path(path, "header")) }) {
            options.header = header
        }
        if let delimiter = members["delimiter"].flatMap({ asciiCharacter($0, at: Self.path(path, "delimiter")) }) {
            options.delimiter = delimiter
        }
        if let quote = members["quote"].flatMap({ asciiCharacter($0, at: Self.path(path, "quote")) }) {
            options.quote = quote
        }
        if options.delimiter == options.quote { problem(Self.path(path, "quote"), "must differ from the delimiter") }
        return options
    }

    private mutating func asciiCharacter(_ value: JSONValue, at path: String) -> UInt8? {
        guard let text = string(value, at: path) else { return nil }
        let bytes = Array(text.utf8)
        guard bytes.count == 1, let byte = bytes.first, byte < 0x80, byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "\r") else {
            problem(path, "\"\(text)\" is not a single ASCII character")
            return nil
        }
        return byte
    }

    mutating func constraints(_ value: JSONValue, at path: String) -> Constraints {
        var constraints = Constraints()
        let keys = ["max_file_size", "max_staged_files", "storage_quota", "max_ingest_rate", "max_stream_rate"]
        guard let members = object(value, at: path, allowed: keys) else { return constraints }
        if let bytes = members["max_file_size"].flatMap({ size($0, at: Self.path(path, "max_file_size")) }) {
            constraints.maxFileSizeBytes = bytes
        }
        if let count = members["max_staged_files"].flatMap({ integer($0, at: Self.path(path, "max_staged_files"), minimum: 1) }) {
            constraints.maxStagedFiles = count
        }
        if let bytes = members["storage_quota"].flatMap({ size($0, at: Self.path(path, "storage_quota")) }) {
            constraints.storageQuotaBytes = bytes
        }
        if let rate = members["max_ingest_rate"] {
            constraints.maxIngestRate = ingestRate(rate, at: Self.path(path, "max_ingest_rate"))
        }
        if let rate = members["max_stream_rate"] {
            constraints.maxStreamRate = streamRate(rate, at: Self.path(path, "max_stream_rate"))
        }
        if constraints.maxFileSizeBytes > constraints.storageQuotaBytes {
            problem(Self.path(path, "max_file_size"), "must not exceed storage_quota")
        }
        return constraints
    }

    private mutating func ingestRate(_ value: JSONValue, at path: String) -> IngestRate? {
        guard let members = object(value, at: path, allowed: ["bytes_per_second", "burst"]) else { return nil }
        let ratePath = Self.path(path, "bytes_per_second")
        guard let rate = required(members["bytes_per_second"], at: ratePath).flatMap({ size($0, at: ratePath) }) else {
            return nil
        }
        guard let burstValue = members["burst"] else { return IngestRate(bytesPerSecond: rate, burstBytes: rate) }
        return size(burstValue, at: Self.path(path, "burst")).map { IngestRate(bytesPerSecond: rate, burstBytes: $0) }
    }

    /// The fields shared by the native and seed layouts of a service agreement.
    mutating func agreementFields(_ members: [String: JSONValue], at path: String) -> ServiceAgreement {
        var agreement = ServiceAgreement()
        let retentionPath = Self.path(path, "data_retention_period_days")
        if let days = members["data_retention_period_days"].flatMap({ integer($0, at: retentionPath, minimum: 1) }) {
            agreement.dataRetentionDays = days
        }
        if let value = members["schedule"], value != .null {
            let schedulePath = Self.path(path, "schedule")
            if let expression = string(value, at: schedulePath) {
                do {
                    agreement.schedule = try CronSchedule(expression)
                } catch {
                    problem(schedulePath, "\"\(expression)\": \(error)")
                }
            }
        }
        if let resources = members["resources"] {
            agreement.resources = self.resources(resources, at: Self.path(path, "resources"))
        }
        if let network = members["network"].flatMap({ bool($0, at: Self.path(path, "network")) }) {
            agreement.network = network
        }
        if let stream = members["stream"] {
            agreement.stream = streamAgreement(stream, at: Self.path(path, "stream"))
        }
        return agreement
    }

    /// Native keys (`concurrency`, `memory_limit`, ...) and Kubernetes `requests`/`limits`, which may be mixed.
    private mutating func resources(_ value: JSONValue, at path: String) -> AppResources {
        var resources = AppResources()
        let keys = ["concurrency", "memory_limit", "cpu_time_limit_seconds", "timeout_seconds", "process_limit", "file_size_limit",
                    "cpu_cores", "requests", "limits"]
        guard let members = object(value, at: path, allowed: keys) else { return resources }
        if let value = members["concurrency"].flatMap({ integer($0, at: Self.path(path, "concurrency"), minimum: 1) }) {
            resources.concurrency = value
        }
        if let value = members["memory_limit"].flatMap({ size($0, at: Self.path(path, "memory_limit")) }) {
            resources.memoryLimitBytes = value
        }
        if let value = members["cpu_time_limit_seconds"].flatMap({ integer($0, at: Self.path(path, "cpu_time_limit_seconds"), minimum: 1) }) {
            resources.cpuTimeLimitSeconds = value
        }
        if let value = members["timeout_seconds"].flatMap({ integer($0, at: Self.path(path, "timeout_seconds"), minimum: 1) }) {
            resources.timeoutSeconds = value
        }
        if let value = members["process_limit"].flatMap({ integer($0, at: Self.path(path, "process_limit"), minimum: 1) }) {
            resources.processLimit = value
        }
        if let value = members["file_size_limit"].flatMap({ size($0, at: Self.path(path, "file_size_limit")) }) {
            resources.fileSizeLimitBytes = value
        }
        if let value = members["cpu_cores"] {
            resources.cpuCores = cpu(value, at: Self.path(path, "cpu_cores"))
        }
        if let requests = members["requests"] {
            // Requests are validated but not used: Sluice enforces limits only.
            _ = kubernetesQuantities(requests, at: Self.path(path, "requests"))
        }
        if let limits = members["limits"] {
            let limitsPath = Self.path(path, "limits")
            let (memory, cpu) = kubernetesQuantities(limits, at: limitsPath)
            if let memory {
                if members["memory_limit"] != nil { problem(Self.path(limitsPath, "memory"), "conflicts with memory_limit") }
                resources.memoryLimitBytes = memory
            }
            if let cpu {
                if members["cpu_cores"] != nil { problem(Self.path(limitsPath, "cpu"), "conflicts with cpu_cores") }
                resources.cpuCores = cpu
            }
        }
        return resources
    }

    private mutating func kubernetesQuantities(_ value: JSONValue, at path: String) -> (memory: Int?, cpu: Double?) {
        guard let members = object(value, at: path, allowed: ["memory", "cpu"]) else { return (nil, nil) }
        let memory = members["memory"].flatMap { size($0, at: Self.path(path, "memory")) }
        let cpu = members["cpu"].flatMap { self.cpu($0, at: Self.path(path, "cpu")) }
        return (memory, cpu)
    }

    /// A CPU quantity: cores (`2`, `0.5`) or millicores (`500m`). A binary-suffixed quantity such as
    /// `1Gi` (a memory unit) is read as that many cores, with a warning.
    private mutating func cpu(_ value: JSONValue, at path: String) -> Double? {
        var cores: Double?
        switch value {
        case .number(let number): cores = number
        case .string(let text):
            if let (number, unit) = ByteSize.splitQuantity(text) {
                if unit.isEmpty {
                    cores = number
                } else if unit == "m" {
                    cores = number / 1000
                } else if ByteSize.isBinaryUnit(unit) {
                    cores = number
                    warning(path, "\"\(text)\" is a memory quantity, not a CPU quantity; read as \(JSONValue.number(number).quoted) CPU core(s)")
                }
            }
        default: break
        }
        guard let cores, cores > 0 else {
            problem(path, "\(value.quoted) is not a CPU quantity (e.g. 2, 0.5 or 500m)")
            return nil
        }
        return cores
    }

    mutating func ingestApp(_ value: JSONValue, at path: String) -> IngestApp {
        var app = IngestApp()
        let keys = ["kind", "steps", "quality", "on_conflict", "command", "output"]
        guard let members = object(value, at: path, allowed: keys) else { return app }
        if let kind = members["kind"].flatMap({ string($0, at: Self.path(path, "kind")) }) {
            if let parsed = IngestApp.Kind(rawValue: kind) {
                app.kind = parsed
            } else {
                problem(Self.path(path, "kind"), "must be declarative or external, not \"\(kind)\"")
            }
        }
        if let action = members["on_conflict"].flatMap({ string($0, at: Self.path(path, "on_conflict")) }) {
            if let parsed = IngestApp.ConflictAction(rawValue: action) {
                app.onConflict = parsed
            } else {
                problem(Self.path(path, "on_conflict"), "must be update or nothing, not \"\(action)\"")
            }
        }
        let ownKeys = app.kind == .declarative ? ["steps", "quality"] : ["command", "output"]
        for key in ["steps", "quality", "command", "output"] where members[key] != nil && !ownKeys.contains(key) {
            problem(Self.path(path, key), "is not allowed for \(app.kind.rawValue) apps")
        }
        switch app.kind {
        case .declarative:
            if let steps = members["steps"] {
                app.steps = operations(steps, at: Self.path(path, "steps"), key: "op", allowed: IngestApp.stepOperations)
            }
            if let quality = members["quality"] {
                app.quality = operations(quality, at: Self.path(path, "quality"), key: "rule", allowed: IngestApp.qualityRules)
            }
        case .external:
            let commandPath = Self.path(path, "command")
            if let command = required(members["command"], at: commandPath).flatMap({ strings($0, at: commandPath) }) {
                if command.first?.isEmpty ?? true {
                    problem(commandPath, command.isEmpty ? "must not be empty" : "the program (first element) must not be empty")
                }
                app.command = command
            }
            if let output = members["output"].flatMap({ string($0, at: Self.path(path, "output")) }) {
                if let parsed = IngestApp.Output(rawValue: output) {
                    app.output = parsed
                } else {
                    problem(Self.path(path, "output"), "must be stdout or out_dir, not \"\(output)\"")
                }
            }
        }
        return app
    }

    /// Objects naming one of `allowed` in `key`; their other members are kept as written.
    private mutating func operations(_ value: JSONValue, at path: String, key: String, allowed: Set<String>) -> [JSONValue] {
        guard case .array(let items) = value else {
            problem(path, "must be an array, not \(value.kindName)")
            return []
        }
        for (index, item) in items.enumerated() {
            let itemPath = Self.path(path, index)
            guard case .object(let members) = item else {
                problem(itemPath, "must be an object, not \(item.kindName)")
                continue
            }
            let namePath = Self.path(itemPath, key)
            guard let name = required(members[key], at: namePath).flatMap({ string($0, at: namePath) }) else { continue }
            if !allowed.contains(name) {
                problem(namePath, "unknown \(key == "op" ? "operation" : "rule") \"\(name)\" (expected one of \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        return items
    }
}

extension FileType {
    static func unknownMessage(_ name: String) -> String {
        "unknown file type \"\(name)\" (expected csv, ndjson or json, optionally .gz)"
    }
}
