import Foundation

/// The receivers' and inhibition rules' parts of `notifications.yaml`.
extension DefinitionReader {
    /// An inhibition rule: `source_matchers`, `target_matchers` (each at least one) and `equal` (labels).
    mutating func inhibitRule(_ value: JSONValue, at path: String) -> InhibitRule? {
        guard let members = object(value, at: path, allowed: ["source_matchers", "target_matchers", "equal"]) else { return nil }
        func matchers(_ key: String) -> [LabelMatcher]? {
            let listPath = Self.path(path, key)
            guard let texts = required(members[key], at: listPath).flatMap({ strings($0, at: listPath) }) else { return nil }
            let parsed = texts.compactMap(LabelMatcher.init)
            guard !texts.isEmpty, parsed.count == texts.count else {
                problem(listPath, "must hold matchers such as severity=\"page\"")
                return nil
            }
            return parsed
        }
        let source = matchers("source_matchers")
        let target = matchers("target_matchers")
        let equal = members["equal"].flatMap { strings($0, at: Self.path(path, "equal")) } ?? []
        guard let source, let target else { return nil }
        return InhibitRule(sourceMatchers: source, targetMatchers: target, equal: equal)
    }

    /// A receiver's `webhook`: `url` (http or https), `timeout`, `bearer_token` or `basic_auth: {username,
    /// password}`, `signature_secret`, `tls_verify`, `ca_file`, `max_alerts`, `send_resolved`, `queue_capacity`.
    mutating func webhook(_ value: JSONValue, name: String, at path: String) -> WebhookReceiver.Configuration? {
        guard let members = object(value, at: path, allowed: ["url", "timeout", "bearer_token", "basic_auth", "signature_secret",
                                                             "tls_verify", "ca_file", "max_alerts", "send_resolved", "queue_capacity"])
        else { return nil }
        guard let url = required(members["url"], at: Self.path(path, "url")).flatMap({ string($0, at: Self.path(path, "url")) }) else { return nil }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            problem(Self.path(path, "url"), "\"\(url)\" is not an http:// or https:// URL")
            return nil
        }
        var webhook = WebhookReceiver.Configuration(name: name, url: url)
        if let timeout = members["timeout"] {
            if case .string(let text) = timeout, let seconds = RuleDuration.seconds(text), (1...300).contains(seconds) {
                webhook.timeout = .seconds(seconds)
            } else {
                problem(Self.path(path, "timeout"), "must be a duration from 1s to 5m")
            }
        }
        webhook.bearerToken = members["bearer_token"].flatMap { string($0, at: Self.path(path, "bearer_token")) }
        if let basic = members["basic_auth"], let auth = object(basic, at: Self.path(path, "basic_auth"), allowed: ["username", "password"]) {
            let username = required(auth["username"], at: Self.path(path, "basic_auth.username")).flatMap { string($0, at: Self.path(path, "basic_auth.username")) }
            let password = required(auth["password"], at: Self.path(path, "basic_auth.password")).flatMap { string($0, at: Self.path(path, "basic_auth.password"), allowEmpty: true) }
            if let username, let password { webhook.basicAuth = (username, password) }
        }
        if webhook.bearerToken != nil && members["basic_auth"] != nil { problem(path, "takes bearer_token or basic_auth, not both") }
        webhook.signatureSecret = members["signature_secret"].flatMap { string($0, at: Self.path(path, "signature_secret")) }
        webhook.verifyTLS = members["tls_verify"].flatMap { bool($0, at: Self.path(path, "tls_verify")) } ?? true
        webhook.caFile = members["ca_file"].flatMap { string($0, at: Self.path(path, "ca_file")) }
        webhook.maxAlerts = members["max_alerts"].flatMap { integer($0, at: Self.path(path, "max_alerts")) } ?? 0
        webhook.sendResolved = members["send_resolved"].flatMap { bool($0, at: Self.path(path, "send_resolved")) } ?? true
        webhook.queueCapacity = members["queue_capacity"].flatMap { integer($0, at: Self.path(path, "queue_capacity"), minimum: 1) } ?? 1000
        return webhook
    }

    /// A receiver's `email`: `smarthost` (host:port), `from`, `to` (an address, a comma-separated list or an
    /// array), `require_tls`, `implicit_tls`, `auth_username`, `auth_password`, `hello`, `subject`, `timeout`,
    /// `tls_verify`, `ca_file`, `send_resolved`, `queue_capacity`.
    mutating func email(_ value: JSONValue, name: String, at path: String) -> EmailReceiver.Configuration? {
        guard let members = object(value, at: path, allowed: ["smarthost", "from", "to", "require_tls", "implicit_tls", "auth_username",
                                                             "auth_password", "hello", "subject", "timeout", "tls_verify", "ca_file",
                                                             "send_resolved", "queue_capacity"])
        else { return nil }
        let hostPath = Self.path(path, "smarthost")
        let smarthost = required(members["smarthost"], at: hostPath).flatMap { string($0, at: hostPath) }
        if let smarthost, smarthost.wholeMatch(of: /(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}/) == nil {
            problem(hostPath, "\"\(smarthost)\" is not host:port")
        }
        let fromPath = Self.path(path, "from")
        let fromText = required(members["from"], at: fromPath).flatMap { string($0, at: fromPath) }
        let from = fromText.flatMap(EmailAddress.init)
        if let fromText, from == nil { problem(fromPath, "\"\(fromText)\" is not an email address") }
        let toPath = Self.path(path, "to")
        var texts: [String] = []
        if let to = required(members["to"], at: toPath) {
            if case .string(let list) = to {
                texts = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            } else {
                texts = strings(to, at: toPath) ?? []
            }
            if texts.isEmpty { problem(toPath, "must name at least one address") }
        }
        let to = texts.compactMap(EmailAddress.init)
        for text in texts where EmailAddress(text) == nil { problem(toPath, "\"\(text)\" is not an email address") }
        // Every option is read (and its problems reported) before a missing server or address ends the receiver.
        var email = EmailReceiver.Configuration(name: name, smarthost: smarthost ?? "", from: from ?? EmailAddress("nobody@invalid")!, to: to)
        email.implicitTLS = members["implicit_tls"].flatMap { bool($0, at: Self.path(path, "implicit_tls")) } ?? email.implicitTLS
        email.requireTLS = members["require_tls"].flatMap { bool($0, at: Self.path(path, "require_tls")) } ?? true
        email.authUsername = members["auth_username"].flatMap { string($0, at: Self.path(path, "auth_username")) }
        email.authPassword = members["auth_password"].flatMap { string($0, at: Self.path(path, "auth_password"), allowEmpty: true) }
        if (email.authUsername == nil) != (email.authPassword == nil) { problem(path, "takes auth_username and auth_password together") }
        // As Go's PlainAuth, which Alertmanager uses: a password goes in clear only to this host.
        let local = ["localhost", "127.0.0.1", "[::1]"].contains { smarthost?.hasPrefix($0 + ":") == true }
        if email.authUsername != nil, !email.requireTLS, !email.implicitTLS, !local {
            problem(path, "sends auth_password in clear without TLS: set require_tls or implicit_tls (or use a server on this host)")
        }
        if let hello = members["hello"].flatMap({ string($0, at: Self.path(path, "hello")) }) {
            if hello.wholeMatch(of: /[A-Za-z0-9.-]+/) == nil { problem(Self.path(path, "hello"), "must be a domain name") }
            email.hello = hello
        }
        if let subject = members["subject"].flatMap({ string($0, at: Self.path(path, "subject")) }) {
            if let unknown = EmailMessage.unknownPlaceholder(in: subject) {
                problem(Self.path(path, "subject"), "{{ \(unknown) }} is not a placeholder (.Status, .GroupValues, .Receiver, .FiringCount, "
                        + ".ResolvedCount, .GroupLabels.x, .CommonLabels.x, .CommonAnnotations.x)")
            }
            email.subject = subject
        }
        if let timeout = members["timeout"] {
            if case .string(let text) = timeout, let seconds = RuleDuration.seconds(text), (1...300).contains(seconds) {
                email.timeout = .seconds(seconds)
            } else {
                problem(Self.path(path, "timeout"), "must be a duration from 1s to 5m")
            }
        }
        email.verifyTLS = members["tls_verify"].flatMap { bool($0, at: Self.path(path, "tls_verify")) } ?? true
        email.caFile = members["ca_file"].flatMap { string($0, at: Self.path(path, "ca_file")) }
        email.sendResolved = members["send_resolved"].flatMap { bool($0, at: Self.path(path, "send_resolved")) } ?? false
        email.queueCapacity = members["queue_capacity"].flatMap { integer($0, at: Self.path(path, "queue_capacity"), minimum: 1) } ?? 1000
        guard smarthost != nil, from != nil, !to.isEmpty, to.count == texts.count else { return nil }
        return email
    }
}
