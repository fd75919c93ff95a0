#if canImport(Glibc)
import Glibc
#endif

/// Who besides graph-relay can read a file that holds a secret (the configuration, a private key,
/// a `{ file: }` secret).
///
/// Readable by every user ("others") is reported; readable by a group is reported unless it is
/// the group graph-relay itself runs as (the packaged layout: `root:graph-relay 0640`).
struct FileExposure: Sendable, Hashable {
    /// The permission bits.
    let mode: UInt32
    /// Readable by every user.
    let othersCanRead: Bool
    /// Readable by a group graph-relay does not run as; its name (or number).
    let foreignGroup: String?

    /// nil when only the owner and graph-relay's own group can read `path` (or it cannot be
    /// examined: reading it reports that).
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = UInt32(info.st_mode) & 0o777
        let others = mode & 0o004 != 0
        var group: String?
        if mode & 0o040 != 0 && info.st_gid != getegid() {
            group = Self.groupName(info.st_gid)
        }
        guard others || group != nil else { return nil }
        self.mode = mode
        self.othersCanRead = others
        self.foreignGroup = group
    }

    /// What to say about `path`, e.g. `'/etc/graph-relay/key.pem' is readable by every user (mode 0644)`.
    func describe(_ path: String) -> String {
        let who = othersCanRead ? "every user" : "group '\(foreignGroup ?? "?")', which graph-relay does not run as"
        return "'\(path)' is readable by \(who) (mode 0\(String(mode, radix: 8))); make it readable by its owner and "
            + "graph-relay's group only (e.g. chown root:graph-relay and chmod 640)"
    }

    private static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return "\(gid)" }
        return String(cString: name)
    }
}
