import NIOConcurrencyHelpers
/// The metadata records this server read or wrote, each with the identity of its `.json` file
/// (inode, size, modification and change times; none while the message has no `.json` and its
/// trailer is its metadata), so that starting a delivery costs a `stat` instead of reading and
/// decoding the JSON. A file changed by anyone else — queue tooling rewrites metadata through a
/// new file and a rename — has another identity, and is read again.
/// Bounded: beyond ``capacity`` records, new ones are simply not cached.
final class SpoolRecordCache: Sendable {
    private let entries = NIOLockedValueBox<[QueueID: (record: SpoolRecord, identity: Posix.FileIdentity?)]>([:])
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The cached record of `id` if its metadata file at `path` is still the one it came from.
    func record(_ id: QueueID, metadataPath path: String) -> SpoolRecord? {
        guard let entry = entries.withLockedValue({ $0[id] }) else { return nil }
        return Posix.FileIdentity(path: path) == entry.identity ? entry.record : nil
    }

    /// Remembers `record`, just read from or written to `path` (or, when there is no file at
    /// `path`, from the message file's trailer).
    func remember(_ record: SpoolRecord, metadataPath path: String) {
        guard capacity > 0 else { return }
        let identity = Posix.FileIdentity(path: path)
        entries.withLockedValue { entries in
            guard entries[record.id] != nil || entries.count < capacity else { return }
            entries[record.id] = (record, identity)
        }
    }

    func forget(_ id: QueueID) {
        entries.withLockedValue { _ = $0.removeValue(forKey: id) }
    }

    var count: Int { entries.withLockedValue { $0.count } }
}
