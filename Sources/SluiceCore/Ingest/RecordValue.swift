/// One value of an incoming record, before it is checked against the schema.
public enum RecordValue: Sendable, Hashable {
    /// JSON `null`.
    case null
    /// A CSV cell; empty means absent for every type but `string`.
    case text(String)
    /// A JSON string.
    case string(String)
    /// A JSON number, as its original literal so no precision is lost.
    case number(String)
    /// A JSON boolean.
    case bool(Bool)
    /// A JSON array or object.
    case nested
}
