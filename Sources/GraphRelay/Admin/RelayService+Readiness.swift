#if canImport(Glibc)
import Glibc
#endif

extension RelayService {
    /// The checks of `/readyz`: the listeners accept, the spool is writable with more than
    /// `spool.minimumFreeSpace` free, and every application a route uses obtained a token in its
    /// last attempt (retried every 30 s in the background).
    public func readiness() -> ReadinessReport {
        var checks: [ReadinessReport.Check] = []
        let (accepting, bound, clients) = state.withLockedValue { ($0.server != nil, $0.listeners.count, $0.clients) }
        checks.append(ReadinessReport.Check(
            name: "listeners", ok: accepting && bound > 0,
            detail: accepting ? "\(bound) listener(s) bound" : "not accepting connections (starting or stopping)"
        ))

        let directory = configuration.spool.directory
        let minimum = configuration.spool.minimumFreeSpace
        let free = StorageSpace.available(in: directory)
        if access(directory, W_OK) != 0 {
            checks.append(ReadinessReport.Check(name: "spool", ok: false, detail: "\(directory) is not writable"))
        } else if let free, minimum > 0, free < minimum {
            checks.append(ReadinessReport.Check(name: "spool", ok: false, detail: "\(free) bytes free, below spool.minimumFreeSpace (\(minimum))"))
        } else {
            checks.append(ReadinessReport.Check(name: "spool", ok: true, detail: "writable, \(free.map { "\($0) bytes free" } ?? "free space unknown")"))
        }

        let statuses = clients?.tokenStatuses ?? [:]
        for application in Set(configuration.routes.map(\.application)).sorted() {
            let name = "token:\(application)"
            switch statuses[application] {
            case nil:
                checks.append(ReadinessReport.Check(name: name, ok: false, detail: "no token attempt yet"))
            case let status? where status.obtained:
                checks.append(ReadinessReport.Check(name: name, ok: true, detail: "token obtained"))
            case let status?:
                checks.append(ReadinessReport.Check(name: name, ok: false, detail: status.detail ?? "no token", aadstsCode: status.aadstsCode))
            }
        }
        return ReadinessReport(checks: checks)
    }
}
