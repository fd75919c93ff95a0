import COpenSSL

/// Reads PEM objects from a `BIO` without OpenSSL's passphrase prompt.
///
/// Given no passphrase callback, OpenSSL asks for the passphrase of an encrypted key on the
/// terminal, or reads it from standard input when there is none: a server started from a shell or
/// with an open standard input (`docker run -i`) would wait there. These readers decline instead,
/// so an encrypted key is simply not read and the caller reports it. (The closures passed as the
/// passphrase callback decline: they return -1.)
public enum PEMReader {
    /// A memory `BIO` holding `text` (the caller frees it with `BIO_free`); nil when OpenSSL
    /// cannot take it (out of memory, or over 2 GiB, which no PEM object is).
    public static func memoryBIO(_ text: String) -> OpaquePointer? {
        var text = text
        return text.withUTF8 { bytes -> OpaquePointer? in
            guard bytes.count <= Int(Int32.max), let bio = BIO_new(BIO_s_mem()) else { return nil }
            guard bytes.isEmpty || BIO_write(bio, bytes.baseAddress, Int32(bytes.count)) == Int32(bytes.count) else {
                BIO_free(bio)
                return nil
            }
            return bio
        }
    }

    /// The next certificate in `bio` (the caller frees it with `X509_free`), or nil.
    public static func certificate(_ bio: OpaquePointer) -> OpaquePointer? {
        PEM_read_bio_X509(bio, nil, { _, _, _, _ in -1 }, nil)
    }

    /// The next private key in `bio` (the caller frees it with `EVP_PKEY_free`), or nil; nil also
    /// for an encrypted key.
    public static func privateKey(_ bio: OpaquePointer) -> OpaquePointer? {
        PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in -1 }, nil)
    }
}
