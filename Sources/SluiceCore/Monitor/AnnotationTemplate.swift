/// Annotation templates in the spirit of Prometheus's: `{{ .tenant }}`, `{{ .value }}`, `{{ .threshold }}`,
/// `{{ .name }}` and `{{ .labels.<label> }}` are replaced; nothing else is evaluated.
enum AnnotationTemplate {
    /// The first placeholder that is not one of those, if any.
    static func unknownPlaceholder(in template: String) -> String? {
        for match in template.matches(of: /\{\{\s*([^}]*?)\s*\}\}/) {
            let name = String(match.output.1)
            if ![".tenant", ".value", ".threshold", ".name"].contains(name), name.wholeMatch(of: /\.labels\.[A-Za-z_][A-Za-z0-9_]*/) == nil {
                return name
            }
        }
        return nil
    }

    /// `template` with its placeholders replaced.
    static func render(_ template: String, tenant: String?, value: Double?, threshold: Double?, name: String,
                       labels: [String: String]) -> String {
        template.replacing(/\{\{\s*([^}]*?)\s*\}\}/) { match in
            let placeholder = String(match.output.1)
            switch placeholder {
            case ".tenant": return tenant ?? ""
            case ".value": return value.map(format) ?? "no data"
            case ".threshold": return threshold.map(format) ?? ""
            case ".name": return name
            default:
                return placeholder.hasPrefix(".labels.") ? labels[String(placeholder.dropFirst(".labels.".count))] ?? "" : ""
            }
        }
    }

    /// Up to four significant decimals, without trailing zeros: `0.25`, `1234.5`, `3`.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        var text = String(format: "%.4g", value)
        if text.contains("."), !text.contains("e") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}
