import Foundation
import SluiceTestSupport
import Testing

/// A tenant's external app runs in a bubblewrap sandbox: whatever it tries, it reaches nothing but the system's
/// read-only directories and its own staging directory, and the server and other tenants carry on.
@Suite struct SandboxTests {
    /// Writes an executable bash script and returns its path.
    private func script(_ body: String) throws -> String {
        let path = try TestPostgres.makeTemporaryDirectory(prefix: "sluice-app") + "/app.sh"
        try "#!/bin/bash\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    private func externalTenant(_ id: String, command: String, agreement: String) -> String {
        tenantYAML(id, constraints: "service_agreement: \(agreement)\ningest_app: {kind: external, command: [\(command)]}")
    }

    @Test func aHostileAppReachesNothingButItsOwnDirectory() async throws {
        try await InProcessSluice.with(ingestWorkers: 2) { sluice in
            // Another tenant, with a staged file and rows; a secret in the data directory; the store's socket.
            let victimKey = try await sluice.createTenant(tenantYAML("victim"), contentType: "application/yaml")
            let victimCSV = "sensor,at,value,note\ns1,1700000000000,1.5,private\n"
            let victim = try await sluice.uploadAndWait("victim", key: victimKey, name: "v.csv", victimCSV)
            #expect(victim.file["state"] as? String == "succeeded")
            let victimFile = sluice.dataDirectory + "/staging/victim/in/" + (try #require(sluice.stagedFiles("victim").first))
            let secret = sluice.dataDirectory + "/secret.txt"
            try "data directory secret".write(toFile: secret, atomically: true, encoding: .utf8)
            let socketDirectory = try #require(sluice.databaseURL.firstMatch(of: /host='([^']*)'/)?.1)

            let app = try script("""
                log="$SOURCE_PATH/probe.log"
                attempt() { if eval "$2" >/dev/null 2>&1; then echo "LEAK $1" >> "$log"; else echo "blocked $1" >> "$log"; fi; }
                attempt other-tenant-file "cat '\(victimFile)'"
                attempt other-tenant-directory "ls '\(sluice.dataDirectory)/staging/victim'"
                attempt data-directory "ls -A '\(sluice.dataDirectory)' | grep -qv '^staging$'"
                attempt data-directory-secret "cat '\(secret)'"
                attempt database-socket "test -e '\(socketDirectory)/.s.PGSQL.5432'"
                attempt database-socket-directory "ls '\(socketDirectory)'"
                attempt loopback-tcp "exec 3<>/dev/tcp/127.0.0.1/\(sluice.port)"
                attempt outbound-tcp "timeout 5 bash -c 'exec 3<>/dev/tcp/1.1.1.1/80'"
                attempt network-interface "grep -qvE '^ *(lo:|Inter-|face)' /proc/net/dev"
                # The server's pid means nothing in the sandbox's own PID namespace, unless it names one of the app's.
                ours='^(app\\.sh|bash|sh|sleep|prlimit|bwrap|cat|ls|grep|wc|test|timeout)$'
                attempt signal-server "kill -0 \(getpid()) && ! grep -qE \"$ours\" /proc/\(getpid())/comm"
                attempt see-other-processes "(for p in /proc/[0-9]*; do c=\\$(cat \\$p/comm 2>/dev/null) || continue; [[ \\$c =~ \\$ours ]] || exit 0; done; exit 1)"
                attempt shadow "cat /etc/shadow"
                attempt write-staged-files "touch \\"$SOURCE_PATH/in/planted\\""
                attempt replace-staged-files "mv \\"$SOURCE_PATH/in\\" \\"$SOURCE_PATH/in.moved\\""
                attempt write-outside "touch /usr/planted || touch /planted"
                # Fork without limit: dash stops at the first fork refused; the counter says how far it got.
                /bin/sh -c 'for i in $(seq 1 200); do sleep 60 & echo $i > "$SOURCE_PATH/forks"; done' 2>/dev/null
                echo "forks $(< "$SOURCE_PATH/forks")" >> "$log"
                kill -9 -1 2>/dev/null; wait
                echo "done" >> "$log"
                # Last, a file over the size limit (a builtin: no process is left to start).
                printf '%2000000s' x > "$SOURCE_PATH/big"
                echo "LEAK file-size" >> "$log"
                """)
            let key = try await sluice.createTenant(
                externalTenant("hostile", command: app,
                               agreement: "{resources: {process_limit: 16, file_size_limit: 1MiB, timeout_seconds: 120}}"),
                contentType: "application/yaml")
            let hostile = try await sluice.uploadAndWait("hostile", key: key, name: "h.csv", victimCSV)

            let log = try String(contentsOfFile: sluice.dataDirectory + "/staging/hostile/probe.log", encoding: .utf8)
            let lines = log.split(separator: "\n").map(String.init)
            #expect(lines.filter { $0.hasPrefix("blocked ") }.count == 15, "\(log)")
            #expect(!log.contains("LEAK"), "\(log)")
            #expect(lines.contains("done"), "\(log)")
            let forks = try #require(lines.first { $0.hasPrefix("forks ") }.flatMap { Int($0.dropFirst(6)) }, "\(log)")
            #expect(forks > 0 && forks < 16, "the process limit stopped the fork loop: \(forks)")

            // The file fails with a clear error; nothing was planted in the staging directory.
            #expect(hostile.file["state"] as? String == "failed")
            let error = hostile.file["error"] as? String ?? ""
            #expect(error.contains("killed by signal \(SIGXFSZ)") && error.contains("file size limit of 1048576 bytes"), "\(error)")
            #expect(!FileManager.default.fileExists(atPath: sluice.dataDirectory + "/staging/hostile/in/planted"))
            #expect(FileManager.default.fileExists(atPath: sluice.dataDirectory + "/staging/hostile/in"))

            // The server and the other tenant carry on.
            #expect(try await sluice.client.get("/readyz").status == 200)
            #expect(try String(contentsOfFile: victimFile, encoding: .utf8) == victimCSV)
            let again = try await sluice.uploadAndWait("victim", key: victimKey, name: "w.csv", "sensor,at,value,note\ns2,1700000000001,2.5,\n")
            #expect(again.file["state"] as? String == "succeeded")
            #expect(try sluice.query("SELECT count(*)::int AS n FROM victim.readings").first?["n", as: Int.self] == 2)
        }
    }

    /// `network: true` in the agreement gives an app the network (here, the host's loopback); without it, none.
    @Test func theNetworkOnlyWhenTheAgreementSaysSo() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let app = try script("""
                if exec 3<>/dev/tcp/127.0.0.1/\(sluice.port); then echo connected; else echo refused; fi > "$SOURCE_PATH/network.log"
                echo '{"sensor": "s1", "at": 1700000000000, "value": 1}'
                """)
            for (id, network) in [("offline", false), ("online", true)] {
                let key = try await sluice.createTenant(
                    externalTenant(id, command: app, agreement: "{network: \(network)}"), contentType: "application/yaml")
                let result = try await sluice.uploadAndWait(id, key: key, name: "a.csv", "sensor,at,value,note\ns1,1,1,\n")
                #expect(result.file["state"] as? String == "succeeded", "\(result.file)")
                let seen = try String(contentsOfFile: sluice.dataDirectory + "/staging/\(id)/network.log", encoding: .utf8)
                #expect(seen == (network ? "connected\n" : "refused\n"), "\(id)")
            }
        }
    }
}
