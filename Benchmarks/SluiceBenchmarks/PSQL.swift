import Foundation
import SluiceTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `psql` against the benchmark's cluster, and the cluster's CPU time.
struct PSQL: Sendable {
    let executable: String
    let conninfo: String
    let postmasterPIDFile: String

    init(conninfo: String, postmasterPIDFile: String) throws {
        // The client of the server's own version when it is installed side by side, else the wrapper.
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted().reversed().map { "/usr/lib/postgresql/\($0)/bin/psql" }
        guard let executable = (versioned + ["/usr/bin/psql"]).first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw TestClientError("psql is missing: apt-get install postgresql-client")
        }
        self.executable = executable
        self.conninfo = conninfo
        self.postmasterPIDFile = postmasterPIDFile
    }

    /// Runs each command with `-c` in one session (optionally one transaction); returns trimmed output.
    @discardableResult
    func run(_ commands: [String], singleTransaction: Bool = false) async throws -> String {
        let executable = executable
        let arguments = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
            + (singleTransaction ? ["--single-transaction"] : []) + commands.flatMap { ["-c", $0] }
        return try await onThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let printed = output.fileHandleForReading.readDataToEndOfFile()
            let complaints = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw TestClientError("psql failed (\(process.terminationStatus)): \(String(decoding: complaints, as: UTF8.self)) "
                                      + "commands: \(commands)")
            }
            return String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// CPU seconds used by the whole cluster so far: the postmaster, its live children (backends,
    /// checkpointer, WAL writer, autovacuum) and the children it reaped (counted in its cutime/cstime).
    func clusterCPUSeconds() -> Double {
        guard let text = try? String(contentsOfFile: postmasterPIDFile, encoding: .utf8),
              let postmaster = text.split(separator: "\n").first.flatMap({ Int32($0) }) else { return .nan }
        var total = processCPUSeconds(postmaster, includingReapedChildren: true)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = procStat(pid), stat.parent == postmaster else { continue }
            total += stat.cpu
        }
        return total
    }
}

/// Fields of `/proc/<pid>/stat`: parent pid, own CPU seconds and reaped children's CPU seconds.
func procStat(_ pid: Int32) -> (parent: Int32, cpu: Double, children: Double)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    // Fields numbered from 1 as in proc(5): pid (1), comm (2), state (3), ppid (4), … utime (14),
    // stime (15), cutime (16), cstime (17); the split starts at state.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 14, let parent = Int32(fields[4 - 3]) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let value = { (number: Int) in Double(fields[number - 3]).map { $0 / ticks } ?? 0 }
    return (parent, value(14) + value(15), value(16) + value(17))
}

/// CPU seconds (user + system, all threads) of a process so far.
func processCPUSeconds(_ pid: Int32, includingReapedChildren: Bool = false) -> Double {
    guard let stat = procStat(pid) else { return .nan }
    return stat.cpu + (includingReapedChildren ? stat.children : 0)
}

/// CPU seconds of this process's reaped children (the psql runs).
func childCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
