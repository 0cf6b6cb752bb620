#if canImport(Glibc)
import Glibc

private let openFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#elseif canImport(Darwin)
import Darwin

private let openFiles = RLIMIT_NOFILE
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`), which bounds how many sockets the server
/// can hold: past it `accept` fails and nothing, `/health` included, is answered.
public enum OpenFileLimit {
    /// The soft limit in force (what `accept` runs into), or nil when it cannot be read.
    public static var current: Int? {
        var limit = rlimit()
        guard getrlimit(openFiles, &limit) == 0 else { return nil }
        // RLIM_INFINITY is all ones (its C macro does not import).
        return limit.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limit.rlim_cur)
    }

    /// Raises the soft limit to the hard limit (an unprivileged process may; many systems start
    /// processes at 1024 with a far higher hard limit) and returns the soft limit now in force.
    @discardableResult
    public static func raiseToHardLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(openFiles, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            _ = setrlimit(openFiles, &raised)
        }
        return current
    }

    /// The largest `--max-connections` that fits under `softLimit` with `headroom` overflow
    /// connections and `reserved` descriptors for everything else (weights, output files,
    /// the listening socket, logs).
    public static func connectionCeiling(softLimit: Int, headroom: Int, reserved: Int = 64) -> Int {
        max(1, softLimit - headroom - reserved)
    }
}
