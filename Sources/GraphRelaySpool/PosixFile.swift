#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Thin blocking wrappers over the POSIX calls the spool needs. Every failure becomes a
/// ``SpoolError/io(operation:path:errno:)`` naming the call and the path. Run them on the spool's
/// I/O thread pool, never on an event loop.
package enum Posix {
    static func fail(_ operation: String, _ path: String, _ code: Int32 = errno) -> SpoolError {
        .io(operation: operation, path: path, errno: code)
    }

    /// Opens with `O_CLOEXEC`, and `O_NOFOLLOW` for files: a symbolic link planted in the spool
    /// is never followed. New files are private to the relay's user (0600).
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(SpoolError) -> Int32 {
        let noFollow = flags & O_DIRECTORY == 0 ? O_NOFOLLOW : 0
        while true {
            let fd = Glibc_open(path, flags | O_CLOEXEC | noFollow, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw fail("open", path)
        }
    }

    static func close(_ fd: Int32) {
        _ = Glibc_close(fd)
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SpoolError) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc_write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw fail("write", path)
            }
            if written == 0 { throw fail("write", path, EIO) }
            offset += written
        }
    }

    static func writeAll(_ fd: Int32, _ buffer: ByteBuffer, path: String) throws(SpoolError) {
        let result: SpoolError? = buffer.withUnsafeReadableBytes { bytes in
            do throws(SpoolError) { try writeAll(fd, bytes, path: path) } catch { return error }
            return nil
        }
        if let result { throw result }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SpoolError) {
        let result: SpoolError? = bytes.withUnsafeBytes { raw in
            do throws(SpoolError) { try writeAll(fd, raw, path: path) } catch { return error }
            return nil
        }
        if let result { throw result }
    }

    /// Reads up to `count` bytes; returns an empty array at end of file.
    static func read(_ fd: Int32, count: Int, path: String) throws(SpoolError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        while true {
            let got = bytes.withUnsafeMutableBytes { Glibc_read(fd, $0.baseAddress!, count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw fail("read", path)
            }
            bytes.removeSubrange(got...)
            return bytes
        }
    }

    /// Reads up to `count` bytes into `buffer`; returns how many (0 at end of file).
    static func read(_ fd: Int32, into buffer: inout ByteBuffer, count: Int, path: String) throws(SpoolError) -> Int {
        try read(into: &buffer, count: count, call: "read", path: path) { Glibc_read(fd, $0, count) }
    }

    /// Reads up to `count` bytes at `offset` into `buffer`; returns how many (0 at end of file).
    static func pread(_ fd: Int32, into buffer: inout ByteBuffer, count: Int, offset: Int, path: String) throws(SpoolError) -> Int {
        try read(into: &buffer, count: count, call: "pread", path: path) { Glibc.pread(fd, $0, count, off_t(offset)) }
    }

    /// Appends what `system` reads into `buffer`, retrying on EINTR.
    private static func read(into buffer: inout ByteBuffer, count: Int, call: String, path: String,
                             _ system: (UnsafeMutableRawPointer) -> Int) throws(SpoolError) -> Int {
        while true {
            var failure: Int32 = 0
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw -> Int in
                let result = system(raw.baseAddress!)
                if result < 0 {
                    failure = errno
                    return 0
                }
                return result
            }
            if failure == EINTR { continue }
            if failure != 0 { throw fail(call, path, failure) }
            return got
        }
    }

    static func fsync(_ fd: Int32, path: String) throws(SpoolError) {
        while Glibc_fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw fail("fsync", path)
        }
    }

    /// fdatasync: the file's data and what is needed to read it back (its size), not its
    /// timestamps.
    static func fdatasync(_ fd: Int32, path: String) throws(SpoolError) {
        while Glibc_fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            throw fail("fdatasync", path)
        }
    }

    static func truncate(_ path: String, to size: Int64) throws(SpoolError) {
        while Glibc_truncate(path, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw fail("truncate", path)
        }
    }

    static func truncate(_ fd: Int32, to size: Int64, path: String) throws(SpoolError) {
        while Glibc_ftruncate(fd, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw fail("ftruncate", path)
        }
    }

    /// Reads a whole small file (metadata). `nil` when it does not exist.
    static func readFile(_ path: String, limit: Int = 4 << 20) throws(SpoolError) -> [UInt8]? {
        let fd: Int32
        do {
            fd = try open(path, O_RDONLY)
        } catch {
            if case .io(_, _, let code) = error, code == ENOENT { return nil }
            throw error
        }
        defer { close(fd) }
        var result: [UInt8] = []
        while true {
            let chunk = try read(fd, count: 64 * 1024, path: path)
            if chunk.isEmpty { return result }
            result += chunk
            if result.count > limit { throw .corrupt(path: path, reason: "larger than \(limit) bytes") }
        }
    }

    /// Writes a new file at `path` (which must not exist), fsyncs and closes it.
    static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(SpoolError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_EXCL)
        do {
            try writeAll(fd, bytes, path: path)
            try fsync(fd, path: path)
        } catch {
            close(fd)
            unlinkIfPresent(path)
            throw error
        }
        close(fd)
    }

    static func rename(_ from: String, _ to: String) throws(SpoolError) {
        if Glibc_rename(from, to) != 0 { throw fail("rename", "\(from) -> \(to)") }
    }

    /// Removes a file; a missing file is not an error. Returns whether it existed.
    @discardableResult
    static func unlink(_ path: String) throws(SpoolError) -> Bool {
        if Glibc_unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw fail("unlink", path)
    }

    static func unlinkIfPresent(_ path: String) {
        _ = Glibc_unlink(path)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return Glibc_stat(path, &info) == 0
    }

    /// `stat` of `path`, nil if it fails.
    static func status(_ path: String) -> stat? {
        var info = stat()
        return Glibc_stat(path, &info) == 0 ? info : nil
    }

    /// What tells one version of a file from another without reading it: inode, size,
    /// modification and change times (nanoseconds). A file replaced by a rename, or written to,
    /// has another identity.
    package struct FileIdentity: Equatable, Sendable {
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64

        /// The identity of the file at `path`, nil when it cannot be stat'ed.
        init?(path: String) {
            guard let info = Posix.status(path) else { return nil }
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_mtim.tv_nsec)
            changed = Int64(info.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_ctim.tv_nsec)
        }
    }

    static func fileSize(_ path: String) throws(SpoolError) -> Int64? {
        var info = stat()
        if Glibc_stat(path, &info) == 0 { return Int64(info.st_size) }
        if errno == ENOENT { return nil }
        throw fail("stat", path)
    }


    /// Creates a directory private to the relay's user (0700); an existing one is left as it is.
    static func makeDirectory(_ path: String) throws(SpoolError) {
        if Glibc_mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        throw fail("mkdir", path)
    }

    static func openDirectory(_ path: String) throws(SpoolError) -> Int32 {
        try open(path, O_RDONLY | O_DIRECTORY)
    }

    /// The names in a directory, without `.` and `..`.
    static func list(_ path: String) throws(SpoolError) -> [String] {
        guard let dir = Glibc_opendir(path) else { throw fail("opendir", path) }
        defer { Glibc_closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = Glibc_readdir(dir) else {
                if errno != 0 { throw fail("readdir", path) }
                return names
            }
            let name = entryName(entry)
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// The name of a directory entry, read in place. `entry.pointee` would copy a whole `dirent`,
    /// but readdir's entries are only as long as their name (`d_reclen`): copying the last one of
    /// its buffer reads past the buffer's end and can cross into an unmapped page.
    static func entryName(_ entry: UnsafePointer<dirent>) -> String {
        String(cString: UnsafeRawPointer(entry).advanced(by: direntNameOffset).assumingMemoryBound(to: CChar.self))
    }

    /// Blocks until an exclusive `flock` on `fd` is held.
    static func lockExclusive(_ fd: Int32, path: String) throws(SpoolError) {
        while Glibc_flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw fail("flock", path)
        }
    }

    /// Tries an exclusive `flock` without waiting; false when someone else holds it.
    static func tryLockExclusive(_ fd: Int32, path: String) throws(SpoolError) -> Bool {
        while Glibc_flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK { return false }
            throw fail("flock", path)
        }
        return true
    }
}

// Unambiguous names for the C functions (the enum's own methods shadow them).
private func Glibc_open(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func Glibc_close(_ fd: Int32) -> Int32 { close(fd) }
private func Glibc_write(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buf, count) }
private func Glibc_read(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buf, count) }
private func Glibc_fsync(_ fd: Int32) -> Int32 { fsync(fd) }
private func Glibc_fdatasync(_ fd: Int32) -> Int32 { fdatasync(fd) }
private func Glibc_truncate(_ path: String, _ size: off_t) -> Int32 { truncate(path, size) }
private func Glibc_ftruncate(_ fd: Int32, _ size: off_t) -> Int32 { ftruncate(fd, size) }
private func Glibc_rename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
private func Glibc_unlink(_ path: String) -> Int32 { unlink(path) }
private func Glibc_stat(_ path: String, _ info: inout stat) -> Int32 { stat(path, &info) }
private func Glibc_mkdir(_ path: String, _ mode: mode_t) -> Int32 { mkdir(path, mode) }
private func Glibc_opendir(_ path: String) -> OpaquePointer? { opendir(path) }
private func Glibc_closedir(_ dir: OpaquePointer) { _ = closedir(dir) }
private func Glibc_readdir(_ dir: OpaquePointer) -> UnsafeMutablePointer<dirent>? { readdir(dir) }
/// Where `d_name` starts in a `dirent`.
private let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
private func Glibc_flock(_ fd: Int32, _ operation: Int32) -> Int32 { flock(fd, operation) }
