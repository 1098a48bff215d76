#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The standard `process_*` metrics of the Prometheus clients.
public enum ProcessMetrics {
    /// Registers the process metrics and a collector refreshing them before each render.
    ///
    /// Call once per registry: each call adds another collector.
    public static func register(in registry: MetricsRegistry) {
        let cpu = registry.counter(name: "process_cpu_seconds_total",
                                   help: "Total user and system CPU time spent in seconds.").labels()
        let resident = registry.gauge(name: "process_resident_memory_bytes",
                                      help: "Resident memory size in bytes.").labels()
        let virtual = registry.gauge(name: "process_virtual_memory_bytes",
                                     help: "Virtual memory size in bytes.").labels()
        let openFDs = registry.gauge(name: "process_open_fds",
                                     help: "Number of open file descriptors.").labels()
        let maxFDs = registry.gauge(name: "process_max_fds",
                                    help: "Maximum number of open file descriptors.").labels()
        registry.gauge(name: "process_start_time_seconds",
                       help: "Start time of the process since unix epoch in seconds.").labels()
            .set(ProcessStatistics.startTime() ?? ProcessStatistics.now())

        registry.addCollector {
            let statistics = ProcessStatistics.current()
            cpu.set(toTotal: statistics.cpuSeconds)
            resident.set(statistics.residentBytes)
            virtual.set(statistics.virtualBytes)
            openFDs.set(statistics.openFileDescriptors)
            maxFDs.set(statistics.maximumFileDescriptors)
        }
    }
}

/// Statistics of the current process, read from the OS.
struct ProcessStatistics {
    var cpuSeconds: Double = 0
    var residentBytes: Double = 0
    var virtualBytes: Double = 0
    var openFileDescriptors: Double = 0
    var maximumFileDescriptors: Double = 0

    static func current() -> ProcessStatistics {
        var statistics = ProcessStatistics()
        var usage = rusage()
        if getrusage(rusageSelf, &usage) == 0 {
            statistics.cpuSeconds = seconds(usage.ru_utime) + seconds(usage.ru_stime)
        }
        var limit = rlimit()
        if getrlimit(resourceNoFile, &limit) == 0 {
            statistics.maximumFileDescriptors = Double(limit.rlim_cur)
        }
        #if os(Linux)
        if let fields = selfStatFields() {
            // Fields 23 (vsize, bytes) and 24 (rss, pages) of proc(5), counted from 3 after "comm".
            statistics.virtualBytes = Double(fields[20]) ?? 0
            statistics.residentBytes = (Double(fields[21]) ?? 0) * Double(sysconf(Int32(_SC_PAGESIZE)))
        }
        statistics.openFileDescriptors = Double(countOpenFileDescriptors())
        #endif
        return statistics
    }

    /// Process start as unix time: `starttime` of /proc/self/stat after `btime` of /proc/stat.
    static func startTime() -> Double? {
        #if os(Linux)
        guard let fields = selfStatFields(), let ticks = Double(fields[19]),
              let stat = readFile("/proc/stat") else { return nil }
        for line in stat.split(separator: UInt8(ascii: "\n")) where line.starts(with: "btime ".utf8) {
            guard let bootTime = Double(String(decoding: line.dropFirst(6), as: UTF8.self)) else { return nil }
            return bootTime + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        #endif
        return nil
    }

    /// The current unix time in seconds.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func seconds(_ time: timeval) -> Double {
        Double(time.tv_sec) + Double(time.tv_usec) / 1e6
    }

    #if os(Linux)
    private static let resourceNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    private static let rusageSelf = __rusage_who_t(RUSAGE_SELF.rawValue)

    /// The fields of /proc/self/stat after the parenthesised command name, starting with field 3.
    private static func selfStatFields() -> [String]? {
        guard let stat = readFile("/proc/self/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
            .map { String(decoding: $0, as: UTF8.self) }
        return fields.count > 21 ? fields : nil
    }

    /// Entries in /proc/self/fd, minus the descriptor used to list them.
    private static func countOpenFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(count - 1, 0)
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { _ = Glibc.close(descriptor) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return count == 0 ? contents : nil }
            contents.append(contentsOf: buffer[..<count])
        }
    }
    #else
    private static let resourceNoFile = RLIMIT_NOFILE
    private static let rusageSelf = RUSAGE_SELF
    #endif
}
