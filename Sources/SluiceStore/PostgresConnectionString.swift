import Foundation

/// PostgreSQL connection strings (URLs such as `postgresql://user:secret@host/db?sslmode=verify-full`, or
/// conninfo such as `host=db password='secret'`) as they may be shown: their passwords are never logged.
public enum PostgresConnectionString {
    /// `text` with every password replaced by `***`: the URL's user information, and `password` in its query or
    /// among conninfo's keywords.
    public static func redacted(_ text: String) -> String {
        var result = text
        for pattern in patterns {
            result = pattern.stringByReplacingMatches(in: result, range: NSRange(result.startIndex..., in: result),
                                                      withTemplate: "$1***")
        }
        return result
    }

    /// The passwords `text` holds, as written in it (still percent-encoded or quoted).
    public static func passwords(in text: String) -> [String] {
        patterns.flatMap { pattern in
            pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
                Range(match.range(at: 2), in: text).map { String(text[$0]) }
            }
        }.filter { !$0.isEmpty }
    }

    /// The URL's `user:password@` (also in `--database-url=postgresql://…`), and `password=` (conninfo, possibly
    /// quoted, or a URL query parameter).
    private static let patterns = [
        #"((?:^|[\s=])postgres(?:ql)?://[^:/?#@\s]*:)([^@/?#\s]*)(?=@)"#,
        #"((?:^|[\s?&])password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)"#,
    ].map { try! NSRegularExpression(pattern: $0, options: [.caseInsensitive]) }
}
