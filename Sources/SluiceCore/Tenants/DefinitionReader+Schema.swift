import Foundation

/// What reading a schema produced, even when it failed: enough to check the primary key against.
struct SchemaReading {
    var schema: AvroRecordSchema?
    /// The fields that were read successfully.
    var validFields: [AvroField] = []
    /// Names of fields that exist but are invalid in some other way.
    var invalidFieldNames: Set<String> = []
}

extension DefinitionReader {
    /// The most fields a schema may have.
    static let maximumFields = 1000

    /// PostgreSQL truncates identifiers longer than this many bytes.
    static let maxIdentifierBytes = 63

    mutating func schema(_ value: JSONValue, at path: String) -> SchemaReading {
        var reading = SchemaReading()
        guard let members = object(value, at: path, allowed: ["type", "name", "fields", "doc"]) else { return reading }
        if let type = members["type"], type != .string("record") {
            problem(Self.path(path, "type"), "must be \"record\", not \(type.quoted)")
        }
        let name = required(members["name"], at: Self.path(path, "name")).flatMap {
            identifier($0, at: Self.path(path, "name"))
        }
        let doc = members["doc"].flatMap { string($0, at: Self.path(path, "doc"), allowEmpty: true) }
        let fieldsPath = Self.path(path, "fields")
        guard let fieldsValue = required(members["fields"], at: fieldsPath) else { return reading }
        guard case .array(let items) = fieldsValue else {
            problem(fieldsPath, "must be an array, not \(fieldsValue.kindName)")
            return reading
        }
        if items.isEmpty { problem(fieldsPath, "must list at least one field") }
        // PostgreSQL allows 1,600 columns a table; two are the lineage columns.
        if items.count > Self.maximumFields { problem(fieldsPath, "must list at most \(Self.maximumFields) fields, not \(items.count)") }
        var fields: [AvroField] = []
        var firstIndex: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let fieldPath = Self.path(fieldsPath, index)
            let (fieldName, parsed) = field(item, at: fieldPath)
            guard let field = parsed else {
                if let fieldName { reading.invalidFieldNames.insert(fieldName) }
                continue
            }
            if let earlier = firstIndex[field.name] {
                problem(Self.path(fieldPath, "name"), "duplicate field name \"\(field.name)\" (also \(Self.path(fieldsPath, earlier)))")
            } else {
                firstIndex[field.name] = index
            }
            fields.append(field)
        }
        reading.validFields = fields
        if let name, fields.count == items.count, !fields.isEmpty {
            reading.schema = AvroRecordSchema(name: name, fields: fields, doc: doc)
        }
        return reading
    }

    /// A table or column name: non-empty, at most 63 bytes, no NUL.
    mutating func identifier(_ value: JSONValue, at path: String) -> String? {
        guard let name = string(value, at: path) else { return nil }
        if name.utf8.count > Self.maxIdentifierBytes {
            problem(path, "\"\(name)\" is longer than \(Self.maxIdentifierBytes) bytes")
            return nil
        }
        if name.utf8.contains(0) {
            problem(path, "must not contain NUL")
            return nil
        }
        return name
    }

    /// The field's name (if readable) and the field (if valid).
    private mutating func field(_ value: JSONValue, at path: String) -> (String?, AvroField?) {
        guard let members = object(value, at: path, allowed: ["name", "type", "logicalType", "default", "doc"]) else {
            return (nil, nil)
        }
        let namePath = Self.path(path, "name")
        var name = required(members["name"], at: namePath).flatMap { identifier($0, at: namePath) }
        if let reserved = name, reserved.hasPrefix(TenantStorage.reservedPrefix) {
            problem(namePath, "\"\(reserved)\" is reserved: names starting with \(TenantStorage.reservedPrefix) are lineage columns")
            name = nil
        }
        let typePath = Self.path(path, "type")
        var resolved = required(members["type"], at: typePath).flatMap { fieldType($0, at: typePath) }
        if let logical = members["logicalType"], let (type, nullable) = resolved {
            let logicalPath = Self.path(path, "logicalType")
            resolved = string(logical, at: logicalPath).flatMap { applyLogicalType($0, to: type, at: logicalPath) }.map { ($0, nullable) }
        }
        let doc = members["doc"].flatMap { string($0, at: Self.path(path, "doc"), allowEmpty: true) }
        guard let name, let (type, nullable) = resolved else { return (name, nil) }
        if let defaultValue = members["default"],
           !checkDefault(defaultValue, type: type, nullable: nullable, at: Self.path(path, "default")) {
            return (name, nil)
        }
        return (name, AvroField(name: name, type: type, nullable: nullable, defaultValue: members["default"], doc: doc))
    }

    /// A type name, a `["null", T]` union or a `{"type": T, "logicalType": L}` object.
    private mutating func fieldType(_ value: JSONValue, at path: String) -> (AvroType, Bool)? {
        switch value {
        case .array(let branches):
            let nonNull = branches.filter { $0 != .string("null") }
            guard branches.count == 2, nonNull.count == 1, let branch = nonNull.first else {
                problem(path, "only [\"null\", T] unions are supported")
                return nil
            }
            let branchPath = Self.path(path, branches.firstIndex(of: branch) ?? 0)
            return nonNullType(branch, at: branchPath).map { ($0, true) }
        default:
            return nonNullType(value, at: path).map { ($0, false) }
        }
    }

    private mutating func nonNullType(_ value: JSONValue, at path: String) -> AvroType? {
        switch value {
        case .string("null"):
            problem(path, "a field cannot be only null; use [\"null\", T]")
            return nil
        case .string(let name):
            guard let type = AvroType(rawValue: name), type.logicalType == nil else {
                problem(path, "unknown type \"\(name)\"")
                return nil
            }
            return type
        case .object:
            guard let members = object(value, at: path, allowed: ["type", "logicalType"]) else { return nil }
            let basePath = Self.path(path, "type")
            guard let base = required(members["type"], at: basePath).flatMap({ nonNullType($0, at: basePath) }) else {
                return nil
            }
            guard let logical = members["logicalType"] else { return base }
            let logicalPath = Self.path(path, "logicalType")
            return string(logical, at: logicalPath).flatMap { applyLogicalType($0, to: base, at: logicalPath) }
        default:
            problem(path, "must be a type name, a [\"null\", T] union or an object, not \(value.kindName)")
            return nil
        }
    }

    /// `date` annotates `int` and `timestamp-millis` `long`; both also annotate `string`, as the seeds write them.
    private mutating func applyLogicalType(_ logical: String, to base: AvroType, at path: String) -> AvroType? {
        guard let type = AvroType(rawValue: logical), type.logicalType != nil else {
            problem(path, "unknown logical type \"\(logical)\"")
            return nil
        }
        guard base == .string || base.rawValue == type.avroPrimitive else {
            problem(path, "logical type \"\(logical)\" requires type \(type.avroPrimitive) or string, not \(base)")
            return nil
        }
        return type
    }

    private mutating func checkDefault(_ value: JSONValue, type: AvroType, nullable: Bool, at path: String) -> Bool {
        let valid: Bool
        switch (type, value) {
        case (_, .null): valid = nullable
        case (.string, .string), (.float, .number), (.double, .number), (.boolean, .bool): valid = true
        case (.int, .number): valid = value.integerValue.map { Int32(exactly: $0) != nil } ?? false
        case (.long, .number), (.date, .number), (.timestampMillis, .number): valid = value.integerValue != nil
        case (.date, .string(let text)): valid = Self.isDate(text)
        case (.timestampMillis, .string(let text)): valid = Self.isTimestamp(text)
        default: valid = false
        }
        if !valid {
            let message = value == .null
                ? "null is only allowed for nullable fields"
                : "\(value.quoted) does not match type \(type)"
            problem(path, message)
        }
        return valid
    }

    /// Whether `text` is a valid `yyyy-MM-dd` date.
    static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), day >= 1 else { return false }
        var components = DateComponents(year: year, month: month, day: day)
        components.calendar = Calendar(identifier: .gregorian)
        return components.isValidDate
    }

    /// Whether `text` is an ISO 8601 timestamp with a time zone, with or without fractional seconds.
    static func isTimestamp(_ text: String) -> Bool {
        let formatter = ISO8601DateFormatter()
        if formatter.date(from: text) != nil { return true }
        formatter.formatOptions.insert(.withFractionalSeconds)
        return formatter.date(from: text) != nil
    }

    /// The primary key: a non-empty list of distinct, required fields of the schema read.
    mutating func primaryKey(_ value: JSONValue, at path: String, schema: SchemaReading) -> [String]? {
        guard let names = strings(value, at: path) else { return nil }
        if names.isEmpty { problem(path, "must name at least one field") }
        var seen: Set<String> = []
        var valid = !names.isEmpty
        for (index, name) in names.enumerated() {
            let itemPath = Self.path(path, index)
            if !seen.insert(name).inserted {
                problem(itemPath, "\"\(name)\" is listed twice")
                valid = false
            }
            if let field = schema.validFields.first(where: { $0.name == name }) {
                if field.nullable {
                    problem(itemPath, "\"\(name)\" is nullable; key fields must be required")
                    valid = false
                }
            } else if !schema.invalidFieldNames.contains(name) {
                problem(itemPath, "\"\(name)\" is not a field of the schema")
                valid = false
            }
        }
        return valid ? names : nil
    }
}
