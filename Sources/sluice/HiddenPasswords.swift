import SluiceStore

/// Hides the passwords of database URLs given on the command line from other local users, who can read every
/// process's arguments (`ps`, `/proc/PID/cmdline`): each password's characters are overwritten in place with `*`.
/// Prefer `SLUICE_DATABASE_URL`, whose value only the process's own user can read.
enum HiddenPasswords {
    static func hideInArguments() {
        for index in 0..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index] else { continue }
            let text = String(cString: argument)
            for password in PostgresConnectionString.passwords(in: text) {
                let bytes = Array(text.utf8), secret = Array(password.utf8)
                var start = 0
                while start + secret.count <= bytes.count {
                    if Array(bytes[start..<start + secret.count]) == secret {
                        for offset in start..<start + secret.count { argument[offset] = CChar(UInt8(ascii: "*")) }
                        start += secret.count
                    } else {
                        start += 1
                    }
                }
            }
        }
    }
}
