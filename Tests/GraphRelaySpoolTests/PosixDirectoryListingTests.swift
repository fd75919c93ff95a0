import Foundation
import GraphRelaySpoolTestSupport
import Testing

@testable import GraphRelaySpool

@Suite("Directory listing")
struct PosixDirectoryListingTests {
    @Test("an entry's name is read in place: a short entry just before an unmapped page is read without touching it")
    func nameBeforeGuardPage() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapping = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, 2 * page) }
        try #require(mprotect(mapping + page, page, PROT_NONE) == 0)

        // A record as the kernel packs it: the header, the name and its NUL, rounded up to 8 bytes
        // (far shorter than `MemoryLayout<dirent>.size`), placed so that it ends at the guard page.
        let name = "a.eml"
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let recordLength = (nameOffset + name.utf8.count + 1 + 7) & ~7
        #expect(recordLength < MemoryLayout<dirent>.size)
        let record = mapping + page - recordLength
        record.initializeMemory(as: UInt8.self, repeating: 0, count: recordLength)
        record.storeBytes(of: UInt16(recordLength), toByteOffset: MemoryLayout<dirent>.offset(of: \dirent.d_reclen)!, as: UInt16.self)
        for (index, byte) in name.utf8.enumerated() {
            record.storeBytes(of: byte, toByteOffset: nameOffset + index, as: UInt8.self)
        }

        #expect(Posix.entryName(record.assumingMemoryBound(to: dirent.self)) == name)
    }

    @Test("a directory's names are listed exactly, from 1 to 255 bytes long, without . and ..")
    func listsEveryName() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // Single letters, then unique names of every length up to 255 bytes (NAME_MAX).
        var expected = Set("abcdefghij".map(String.init))
        for index in 0..<2000 {
            let prefix = String(index, radix: 36) + "."
            expected.insert(prefix + String(repeating: "x", count: index % (256 - prefix.count)))
        }
        #expect(expected.map(\.utf8.count).max() == 255)
        for name in expected {
            try #require(FileManager.default.createFile(atPath: "\(directory.path)/\(name)", contents: nil))
        }
        let listed = try Posix.list(directory.path)
        #expect(listed.count == expected.count)
        #expect(Set(listed) == expected)
    }
}
