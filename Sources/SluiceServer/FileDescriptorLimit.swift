#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit: every HTTP connection and store connection needs a descriptor.
public enum FileDescriptorLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit.
    public static func raiseToMaximum() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
