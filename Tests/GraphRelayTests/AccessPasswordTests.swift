import Testing
@testable import GraphRelay

@Suite("Access password hashing")
struct AccessPasswordTests {
    /// Cheap parameters so the suite stays fast; the format and code path are the same.
    let fastScrypt = PasswordHash.Algorithm.scrypt(logN: 4, r: 8, p: 1)
    let fastPBKDF2 = PasswordHash.Algorithm.pbkdf2SHA256(iterations: 1000)

    @Test("scrypt hashes verify the right password only and are salted")
    func scrypt() throws {
        let encoded = try PasswordHasher.hash(password: "correct horse", algorithm: fastScrypt)
        #expect(encoded.hasPrefix("$scrypt$ln=4,r=8,p=1$"))
        let hash = try PasswordHash(parsing: encoded)
        #expect(hash.verify("correct horse"))
        #expect(!hash.verify("correct horsE"))
        #expect(!hash.verify(""))
        #expect(hash.salt.count == 16 && hash.hash.count == 32)
        #expect(hash.encoded == encoded)
        let again = try PasswordHasher.hash(password: "correct horse", algorithm: fastScrypt)
        #expect(again != encoded)
    }

    @Test("PBKDF2-SHA256 hashes verify too")
    func pbkdf2() throws {
        let encoded = try PasswordHasher.hash(password: "pässwörd", algorithm: fastPBKDF2)
        #expect(encoded.hasPrefix("$pbkdf2-sha256$i=1000$"))
        let hash = try PasswordHash(parsing: encoded)
        #expect(hash.verify("pässwörd"))
        #expect(!hash.verify("passwort"))
    }

    @Test("known vectors: scrypt RFC 7914 and PBKDF2-HMAC-SHA256")
    func vectors() throws {
        // RFC 7914 §12: P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64.
        let scrypt = try PasswordHasher.derive(password: Array("password".utf8), salt: Array("NaCl".utf8),
                                               algorithm: .scrypt(logN: 10, r: 8, p: 16), length: 64)
        #expect(scrypt.prefix(8) == [0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00])
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, dkLen=64.
        let pbkdf2 = try PasswordHasher.derive(password: Array("passwd".utf8), salt: Array("salt".utf8),
                                               algorithm: .pbkdf2SHA256(iterations: 1), length: 64)
        #expect(pbkdf2.prefix(8) == [0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f])
    }

    @Test("malformed hash strings are refused with a reason, never a crash")
    func malformed() {
        let cases: [(String, String)] = [
            ("", "not a graph-relay password hash"),
            ("plaintext", "not a graph-relay password hash"),
            ("$2y$10$abcdefghijklmnopqrstuuQWERTYUIOPASDFGHJKLZXCVBNM12345", "not a graph-relay password hash"),
            ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "not a graph-relay password hash"),
            ("$md5$x$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "unsupported password hash algorithm 'md5'"),
            ("$scrypt$ln=15,r=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "scrypt parameters"),
            ("$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "scrypt ln must be 1–20"),
            ("$scrypt$ln=20,r=32,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "more than 1 GiB"),
            ("$scrypt$ln=15,r=8,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA", "salt"),
            ("$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaA", "hash is not 16–64 bytes"),
            ("$pbkdf2-sha256$i=10$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "iterations must be"),
            ("$scrypt$ln=15,r=8,p=1,ln=3$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "scrypt parameters"),
        ]
        for (text, expected) in cases {
            do {
                _ = try PasswordHash(parsing: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains(expected), "\(text): \(error)")
            }
        }
    }

    @Test("the default algorithm is scrypt ln=15 r=8 p=1")
    func defaults() throws {
        #expect(PasswordHash.Algorithm.defaultScrypt == .scrypt(logN: 15, r: 8, p: 1))
        try PasswordHash.Algorithm.defaultScrypt.validate()
        try PasswordHash.Algorithm.defaultPBKDF2.validate()
    }

    @Test("password from standard input loses one trailing line ending only")
    func standardInput() {
        #expect(PasswordHasher.password(fromStandardInput: Array("secret\n".utf8)) == "secret")
        #expect(PasswordHasher.password(fromStandardInput: Array("secret\r\n".utf8)) == "secret")
        #expect(PasswordHasher.password(fromStandardInput: Array(" sec ret \n\n".utf8)) == " sec ret \n")
        #expect(PasswordHasher.password(fromStandardInput: Array("\n".utf8)) == nil)
        #expect(PasswordHasher.password(fromStandardInput: []) == nil)
    }
}
