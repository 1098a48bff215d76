import Foundation

/// An email address as `from` and `to` take it: `alerts@example.com` or `Sluice Alerts <alerts@example.com>`.
public struct EmailAddress: Sendable, Equatable {
    public var name: String?
    public var address: String

    /// Parses `text`; nil unless it is one plain address (no quoting, comments, line breaks or groups).
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let addressPattern = /[A-Za-z0-9.!#$%&'*+\/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/
        if let match = trimmed.wholeMatch(of: /([^<>"\r\n]*?)\s*<([^<>\s]+)>/) {
            guard String(match.output.2).wholeMatch(of: addressPattern) != nil else { return nil }
            let name = String(match.output.1).trimmingCharacters(in: .whitespaces)
            guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return nil }
            self.name = name.isEmpty ? nil : name
            address = String(match.output.2)
        } else if trimmed.wholeMatch(of: addressPattern) != nil {
            address = trimmed
        } else {
            return nil
        }
    }

    /// As a header writes it, a display name encoded when it is not plain words.
    var header: String {
        guard let name else { return address }
        let plain = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == " ") }
        return "\(plain ? name : EmailMessage.encodedWords(name)) <\(address)>"
    }
}

/// The email for one notification group: RFC 5322 headers (`Date`, `Message-ID`, `MIME-Version`, `Content-Type:
/// text/plain; charset=utf-8`), every header value that is not plain printable ASCII encoded as RFC 2047
/// encoded words (so a label holding a line break cannot add a header), and a readable plain-text body.
enum EmailMessage {
    /// Alertmanager's default subject: `[FIRING:2] <group label values>` or `[RESOLVED] <…>`.
    static let defaultSubject = "[{{ .Status }}] {{ .GroupValues }}"

    /// The placeholders a subject may hold.
    static func unknownPlaceholder(in template: String) -> String? {
        for match in template.matches(of: /\{\{\s*([^}]*?)\s*\}\}/) {
            let name = String(match.output.1)
            if ![".Status", ".GroupValues", ".Receiver", ".FiringCount", ".ResolvedCount"].contains(name),
               name.wholeMatch(of: /\.(GroupLabels|CommonLabels|CommonAnnotations)\.[A-Za-z_][A-Za-z0-9_]*/) == nil {
                return name
            }
        }
        return nil
    }

    /// `template` for `group`: `{{ .Status }}` (`FIRING:2` or `RESOLVED`), `{{ .GroupValues }}` (the group label
    /// values by label name, space-separated), `{{ .Receiver }}`, `{{ .FiringCount }}`, `{{ .ResolvedCount }}`,
    /// `{{ .GroupLabels.x }}`, `{{ .CommonLabels.x }}`, `{{ .CommonAnnotations.x }}`.
    static func subject(_ template: String, for group: AlertGroup) -> String {
        let firing = group.firing.count
        return template.replacing(/\{\{\s*([^}]*?)\s*\}\}/) { match in
            let name = String(match.output.1)
            switch name {
            case ".Status": return group.status == .firing ? "FIRING:\(firing)" : "RESOLVED"
            case ".GroupValues": return group.labels.sorted { $0.key < $1.key }.map(\.value).joined(separator: " ")
            case ".Receiver": return group.receiver
            case ".FiringCount": return "\(firing)"
            case ".ResolvedCount": return "\(group.alerts.count - firing)"
            default:
                let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
                guard parts.count == 2 else { return "" }
                let map = switch parts[0] {
                case "GroupLabels": group.labels
                case "CommonLabels": AlertmanagerPayload.common(group.alerts.map(\.labels))
                default: AlertmanagerPayload.common(group.alerts.map(\.annotations))
                }
                return map[parts[1]] ?? ""
            }
        }
    }

    /// The whole message, lines ending in CRLF.
    static func compose(_ group: AlertGroup, from: EmailAddress, to: [EmailAddress], subject template: String, externalURL: String,
                        date: Date, messageID: String) -> [UInt8] {
        let headers = [
            ("Date", rfc5322(date)),
            ("From", from.header),
            ("To", to.map(\.header).joined(separator: ", ")),
            ("Subject", header(subject(template, for: group))),
            ("Message-ID", "<\(messageID)@\(from.address.split(separator: "@").last.map(String.init) ?? "sluice")>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
            ("Auto-Submitted", "auto-generated"),
            ("X-Sluice-Group-Key", header(group.key)),
        ]
        var text = headers.map { "\($0): \($1)\r\n" }.joined() + "\r\n"
        text += body(group, externalURL: externalURL).map { wrapped($0) }.joined(separator: "\r\n") + "\r\n"
        return Array(text.utf8)
    }

    /// The body's lines: a summary, then each alert with its value, times, labels, annotations and a link.
    static func body(_ group: AlertGroup, externalURL: String) -> [String] {
        let base = externalURL.hasSuffix("/") ? String(externalURL.dropLast()) : externalURL
        let groupName = group.labels.sorted { $0.key < $1.key }.map { "\(readable($0.key))=\(readable($0.value))" }.joined(separator: ", ")
        let firing = group.firing
        let resolved = group.alerts.filter { $0.status == .resolved }
        var lines = ["\(firing.count) firing, \(resolved.count) resolved" + (groupName.isEmpty ? "" : " in the group \(groupName)"), ""]
        for (title, alerts) in [("Firing", firing), ("Resolved", resolved)] where !alerts.isEmpty {
            lines += ["\(title):", ""]
            for alert in alerts {
                lines.append("* \(readable(alert.name))" + (alert.tenant.map { " for tenant \(readable($0))" } ?? ""))
                if let value = alert.value { lines.append("  Value:    \(AnnotationTemplate.format(value))") }
                lines.append("  Started:  \(AlertmanagerPayload.time(alert.startsAt))")
                if let ended = alert.endsAt { lines.append("  Ended:    \(AlertmanagerPayload.time(ended))") }
                lines.append("  Labels:")
                lines += alert.labels.sorted { $0.key < $1.key }.map { "    \(readable($0.key)) = \(readable($0.value))" }
                if !alert.annotations.isEmpty {
                    lines.append("  Annotations:")
                    lines += alert.annotations.sorted { $0.key < $1.key }.map { "    \(readable($0.key)) = \(readable($0.value))" }
                }
                lines += ["  Link:     \(AlertmanagerPayload.generatorURL(for: alert, base: base))", ""]
            }
        }
        lines.append("Sent by Sluice (\(base.isEmpty ? "no external URL set" : base)) to the receiver \(group.receiver).")
        return lines
    }

    /// `text` on one line: line breaks and other control characters shown escaped.
    private static func readable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += " "
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { result += String(format: "\\x%02x", scalar.value) } else { result.unicodeScalars.append(scalar) }
            }
        }
        return result
    }

    /// `line` split so no line is longer than SMTP allows (998 bytes), at character boundaries.
    private static func wrapped(_ line: String) -> String {
        guard line.utf8.count > 900 else { return line }
        var lines: [String] = []
        var current = ""
        for character in line {
            if current.utf8.count + character.utf8.count > 900 {
                lines.append(current)
                current = "  "
            }
            current.append(character)
        }
        lines.append(current)
        return lines.joined(separator: "\r\n")
    }

    /// A header value: as is when it is printable ASCII of a sane length, otherwise encoded words.
    static func header(_ value: String) -> String {
        let plain = value.utf8.count <= 900 && value.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) }
        return plain ? value : encodedWords(value)
    }

    /// RFC 2047 `=?UTF-8?B?…?=` words of at most 45 bytes of text each (whole characters), folded onto lines
    /// of their own.
    static func encodedWords(_ value: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in value {
            let bytes = Array(character.utf8)
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// `Sun, 06 Dec 2026 10:00:00 +0000`.
    static func rfc5322(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
