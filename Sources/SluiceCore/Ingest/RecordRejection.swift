/// Why one record was rejected; the file goes on with the next record.
public struct RecordRejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// Machine-readable rejection codes.
    public enum Code {
        public static let missingRequired = "missing_required"
        public static let invalidInt = "invalid_int"
        public static let outOfRange = "out_of_range"
        public static let invalidNumber = "invalid_number"
        public static let invalidBoolean = "invalid_boolean"
        public static let invalidDate = "invalid_date"
        public static let invalidTimestamp = "invalid_timestamp"
        public static let invalidUTF8 = "invalid_utf8"
        /// Text PostgreSQL cannot store: a NUL character.
        public static let invalidText = "invalid_text"
        public static let wrongType = "wrong_type"
        public static let malformedRecord = "malformed_record"
        public static let fieldCountMismatch = "field_count_mismatch"
    }

    /// The schema field at fault, or `nil` when the record as a whole is.
    public let field: String?
    /// A stable, machine-readable code; one of ``Code``.
    public let code: String
    /// A human-readable description.
    public let message: String

    public init(field: String?, code: String, message: String) {
        self.field = field
        self.code = code
        self.message = message
    }

    public var description: String { field.map { "\(code) in \($0): \(message)" } ?? "\(code): \(message)" }
}
