/// The one place SluiceStore turns names into SQL identifiers.
///
/// Values never go into SQL text (they are bound as `$n` parameters); identifiers such as schema,
/// table and column names must go through ``quote(_:)``.
public enum PostgresIdentifier {
    /// Quotes `name` as a PostgreSQL identifier: wraps it in double quotes and doubles embedded ones.
    ///
    /// `PostgresIdentifier.quote(#"a"b"#)` returns `"a""b"`.
    public static func quote(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Quotes a schema-qualified name, e.g. `"tenant_1"."events"`.
    public static func qualified(_ schema: String, _ name: String) -> String {
        quote(schema) + "." + quote(name)
    }
}
