import Foundation

/// The two roles of an embedded cluster and their generated passwords, kept in a libpq password file
/// (`DATA_DIR/credentials/postgres.pgpass`, mode `0600`) that connection strings name with `passfile=`, so
/// no password is ever part of a connection string, a log line or an error.
///
/// The first line is the cluster's superuser (used only to set the cluster up), the second the role Sluice
/// works as: not a superuser, it owns the platform database and every schema in it.
struct ClusterCredentials: Equatable {
    /// The password file's name in the credentials directory.
    static let fileName = "postgres.pgpass"

    struct Role: Equatable {
        let name: String
        let password: String
    }

    let superuser: Role
    let service: Role

    /// Fresh 256-bit passwords for `superuser` and `service`.
    static func generate(superuser: String, service: String) -> ClusterCredentials {
        ClusterCredentials(superuser: Role(name: superuser, password: randomPassword()),
                           service: Role(name: service, password: randomPassword()))
    }

    /// Reads a password file written by ``pgpass``; `nil` if `text` is not one.
    init?(pgpass text: String) {
        let roles = text.split(separator: "\n").compactMap { line -> Role? in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 5, fields[..<3].allSatisfy({ $0 == "*" }), !fields[3].isEmpty, !fields[4].isEmpty else { return nil }
            return Role(name: String(fields[3]), password: String(fields[4]))
        }
        guard roles.count == 2 else { return nil }
        self.init(superuser: roles[0], service: roles[1])
    }

    init(superuser: Role, service: Role) {
        self.superuser = superuser
        self.service = service
    }

    /// The password file: any host, port and database, one line per role (names and passwords hold no `:`
    /// or `\`, which the format would need escaped).
    var pgpass: String {
        [superuser, service].map { "*:*:*:\($0.name):\($0.password)" }.joined(separator: "\n")
    }

    private static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(UInt8.random(in: .min ... .max, using: &generator), radix: 16) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }
}
