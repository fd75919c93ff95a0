#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`): every SMTP session is a file descriptor, and
/// the usual soft limit of 1024 would cap the listener near a thousand sessions.
public enum SMTPFileDescriptorLimit {
    /// Raises the soft limit to the hard limit (on macOS at most `OPEN_MAX`), as the executable
    /// does at start. Returns the soft limit in effect afterwards.
    @discardableResult
    public static func raiseToHardLimit() throws -> UInt64 {
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { throw SMTPServerError("getrlimit(RLIMIT_NOFILE) failed: \(errnoText())") }
        var target = limits.rlim_max
        #if canImport(Darwin)
        target = min(target, rlim_t(OPEN_MAX))
        #endif
        if limits.rlim_cur >= target { return UInt64(limits.rlim_cur) }
        limits.rlim_cur = target
        guard setrlimit(resource, &limits) == 0 else {
            throw SMTPServerError("setrlimit(RLIMIT_NOFILE, \(target)) failed: \(errnoText())")
        }
        return UInt64(target)
    }

    /// The current soft and hard limits.
    public static func current() -> (soft: UInt64, hard: UInt64) {
        var limits = rlimit()
        _ = getrlimit(resource, &limits)
        return (UInt64(limits.rlim_cur), UInt64(limits.rlim_max))
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
