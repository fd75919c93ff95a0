import COpenSSL
import COpenSSLShims
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One OpenSSL `SSL` object wired to two memory BIOs: ciphertext from the network is written into
/// `networkInput`, ciphertext for the network is read out of `networkOutput`. It performs no I/O
/// and holds no state machine of its own: ``TLSHandler`` decides what to call when.
final class OpenSSLConnection {
    enum HandshakeResult {
        case complete
        case wantMore
        case failed([String])
    }

    /// Why a read stopped.
    enum ReadEnd {
        /// Everything buffered was decrypted; more ciphertext is needed.
        case wantMore
        /// The peer sent close_notify.
        case closeNotify
        case failed([String])
    }

    let role: TLSRole
    private let ssl: OpaquePointer
    private let networkInput: OpaquePointer
    private let networkOutput: OpaquePointer
    /// Keeps the `SSL_CTX` alive as long as this connection.
    private let context: TLSContext

    init(context: TLSContext, serverHostname: String?) throws {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.context) else {
            throw TLSError(.configuration, role: context.role, reasons: ["SSL_new failed"] + OpenSSLErrorQueue.drain())
        }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.configuration, role: context.role, reasons: ["BIO_new failed"])
        }
        // An empty input BIO means "wait for more", not end of file.
        _ = grs_BIO_set_mem_eof_return(input, -1)
        SSL_set_bio(ssl, input, output)  // ssl owns both BIOs from here on
        self.ssl = ssl
        self.networkInput = input
        self.networkOutput = output
        self.role = context.role
        self.context = context

        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let host = serverHostname, !host.isEmpty {
                try configurePeerName(host)
            }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    private func configurePeerName(_ host: String) throws {
        if Self.isIPAddress(host) {
            // No SNI for addresses (RFC 6066 §3); verify the certificate's IP SAN instead.
            if context.configuration.verifyPeer, X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1 {
                throw TLSError(.configuration, role: role, peer: host, reasons: ["invalid IP address"] + OpenSSLErrorQueue.drain())
            }
        } else {
            guard grs_SSL_set_tlsext_host_name(ssl, host) == 1 else {
                throw TLSError(.configuration, role: role, peer: host, reasons: ["cannot set SNI"] + OpenSSLErrorQueue.drain())
            }
            if context.configuration.verifyPeer, SSL_set1_host(ssl, host) != 1 {
                throw TLSError(.configuration, role: role, peer: host, reasons: ["cannot set verified host name"] + OpenSSLErrorQueue.drain())
            }
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// Hands ciphertext received from the network to OpenSSL.
    func receiveFromNetwork(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = BIO_write(networkInput, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, Int(Int32.max))))
                if written <= 0 { break }  // a memory BIO only fails when out of memory
                offset += Int(written)
            }
        }
    }

    /// Ciphertext OpenSSL has produced for the network, if any.
    func takeNetworkOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = grs_BIO_pending(networkOutput)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { pointer in
            let read = BIO_read(networkOutput, pointer.baseAddress, Int32(pending))
            return max(Int(read), 0)
        }
        return buffer
    }

    func doHandshake() -> HandshakeResult {
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(ssl, result) {
        case grs_SSL_ERROR_WANT_READ, grs_SSL_ERROR_WANT_WRITE:
            return .wantMore
        default:
            return .failed(failureReasons())
        }
    }

    /// Decrypts everything buffered: the application data (if any) and why reading stopped.
    func readPlaintext(allocator: ByteBufferAllocator) -> (data: ByteBuffer?, end: ReadEnd) {
        OpenSSLErrorQueue.clear()
        let recordSize = 16 * 1024
        var buffer = allocator.buffer(capacity: recordSize)
        while true {
            var status: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: recordSize) { pointer in
                var count = 0
                status = SSL_read_ex(ssl, pointer.baseAddress, pointer.count, &count)
                return status == 1 ? count : 0
            }
            if status == 1 { continue }
            let end: ReadEnd
            switch SSL_get_error(ssl, status) {
            case grs_SSL_ERROR_WANT_READ, grs_SSL_ERROR_WANT_WRITE:
                end = .wantMore
            case grs_SSL_ERROR_ZERO_RETURN:
                end = .closeNotify
            default:
                end = .failed(failureReasons())
            }
            return (buffer.readableBytes > 0 ? buffer : nil, end)
        }
    }

    /// Encrypts application data; the records wait in the output BIO.
    func writePlaintext(_ buffer: ByteBuffer) -> [String]? {
        guard buffer.readableBytes > 0 else { return nil }
        OpenSSLErrorQueue.clear()
        return buffer.withUnsafeReadableBytes { bytes -> [String]? in
            var offset = 0
            while offset < bytes.count {
                var written = 0
                let status = SSL_write_ex(ssl, bytes.baseAddress! + offset, bytes.count - offset, &written)
                if status != 1 {
                    return failureReasons()
                }
                offset += written
            }
            return nil
        }
    }

    /// Queues close_notify in the output BIO.
    func shutdown() {
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    var info: TLSConnectionInfo {
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
        let cipher = SSL_get_current_cipher(ssl)
        let cipherName = cipher.flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        let bits = cipher.map { Int(SSL_CIPHER_get_bits($0, nil)) } ?? 0
        var protocolPointer: UnsafePointer<UInt8>?
        var protocolLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &protocolPointer, &protocolLength)
        let alpn = protocolPointer.map {
            String(decoding: UnsafeBufferPointer(start: $0, count: Int(protocolLength)), as: UTF8.self)
        }
        return TLSConnectionInfo(version: version, cipher: cipherName, cipherBits: bits, applicationProtocol: alpn)
    }

    /// OpenSSL's queued reasons, plus the certificate verification result when that failed.
    private func failureReasons() -> [String] {
        var reasons = OpenSSLErrorQueue.drain()
        if role == .client {
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK, let text = X509_verify_cert_error_string(verify) {
                let detail = String(cString: text)
                if let index = reasons.firstIndex(where: { $0.hasPrefix("certificate verify failed") }) {
                    reasons[index] = "certificate verify failed: \(detail)"
                } else {
                    reasons.append("certificate verify failed: \(detail)")
                }
            }
        }
        if reasons.isEmpty { reasons = ["unexpected end of connection"] }
        return reasons
    }
}
