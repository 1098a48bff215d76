/// The record schema of a tenant's data, written in Avro's JSON form.
///
/// The record's name is the target table's name; each field becomes a column.
public struct AvroRecordSchema: Sendable, Equatable {
    /// The record (and table) name.
    public var name: String
    /// The fields, in column order.
    public var fields: [AvroField]
    /// Optional documentation.
    public var doc: String?

    public init(name: String, fields: [AvroField], doc: String? = nil) {
        self.name = name
        self.fields = fields
        self.doc = doc
    }

    /// The field named `name`, if any.
    public func field(named name: String) -> AvroField? {
        fields.first { $0.name == name }
    }
}

/// One field of an ``AvroRecordSchema``.
public struct AvroField: Sendable, Equatable {
    public var name: String
    public var type: AvroType
    /// Whether the field is a `["null", T]` union.
    public var nullable: Bool
    /// The value used when a record lacks the field; type-checked against ``type``.
    public var defaultValue: JSONValue?
    public var doc: String?

    public init(name: String, type: AvroType, nullable: Bool = false, defaultValue: JSONValue? = nil, doc: String? = nil) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.defaultValue = defaultValue
        self.doc = doc
    }
}

/// The field types Sluice supports: Avro primitives and the `date` and `timestamp-millis` logical types.
public enum AvroType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case string, int, long, float, double, boolean, date
    case timestampMillis = "timestamp-millis"

    /// The PostgreSQL column type.
    public var postgresType: String {
        switch self {
        case .string: "text"
        case .int: "integer"
        case .long: "bigint"
        case .float: "real"
        case .double: "double precision"
        case .boolean: "boolean"
        case .date: "date"
        case .timestampMillis: "timestamptz"
        }
    }

    /// The Avro primitive a logical type annotates, or the type itself.
    var avroPrimitive: String {
        switch self {
        case .date: "int"
        case .timestampMillis: "long"
        default: rawValue
        }
    }

    /// The logical type name, for `date` and `timestamp-millis`.
    var logicalType: String? {
        switch self {
        case .date, .timestampMillis: rawValue
        default: nil
        }
    }

    public var description: String { rawValue }
}
