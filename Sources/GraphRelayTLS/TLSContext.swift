import COpenSSL
import COpenSSLShims

/// An OpenSSL `SSL_CTX` built from a ``TLSConfiguration``: the certificates, key, trust store and
/// protocol limits every connection made from it shares. Building it validates the configuration,
/// so a bad certificate file or cipher list is reported at start-up, not at the first connection.
///
/// `SSL_CTX` is safe to share between threads once configured; a context is never mutated after
/// `init`, so it is `Sendable`.
public final class TLSContext: @unchecked Sendable {
    public let role: TLSRole
    public let configuration: TLSConfiguration
    let context: OpaquePointer

    public init(configuration: TLSConfiguration, role: TLSRole) throws {
        OpenSSLErrorQueue.clear()
        let method = role == .server ? TLS_server_method() : TLS_client_method()
        guard let context = SSL_CTX_new(method) else {
            throw TLSError(.configuration, role: role, reasons: ["SSL_CTX_new failed"] + OpenSSLErrorQueue.drain())
        }
        self.role = role
        self.configuration = configuration
        self.context = context
        do {
            try self.configure()
        } catch {
            // deinit frees the context.
            throw error
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    private func fail(_ reason: String) -> TLSError {
        TLSError(.configuration, role: role, reasons: [reason] + OpenSSLErrorQueue.drain())
    }

    private func configure() throws {
        let configuration = self.configuration

        // Protocol versions.
        if configuration.minimumVersion < .tls1_2 && !configuration.allowLegacyProtocols {
            throw TLSError(.configuration, role: role, reasons: [
                "minimum version \(configuration.minimumVersion) needs the explicit legacy opt-in (allowLegacyProtocols)",
            ])
        }
        if let maximum = configuration.maximumVersion, maximum < configuration.minimumVersion {
            throw TLSError(.configuration, role: role, reasons: [
                "maximum version \(maximum) is below minimum version \(configuration.minimumVersion)",
            ])
        }
        guard grs_SSL_CTX_set_min_proto_version(context, configuration.minimumVersion.openSSLValue) == 1 else {
            throw fail("cannot set minimum version \(configuration.minimumVersion)")
        }
        guard grs_SSL_CTX_set_max_proto_version(context, configuration.maximumVersion?.openSSLValue ?? 0) == 1 else {
            throw fail("cannot set maximum version")
        }
        if configuration.allowLegacyProtocols {
            // TLS 1.0/1.1 sign the handshake with SHA-1 and old devices only know AES-CBC suites:
            // OpenSSL 3 refuses both above security level 0.
            SSL_CTX_set_security_level(context, 0)
        }

        var options = grs_SSL_OP_NO_RENEGOTIATION | grs_SSL_OP_NO_COMPRESSION
        if role == .server {
            options |= grs_SSL_OP_CIPHER_SERVER_PREFERENCE
        }
        _ = grs_SSL_CTX_set_options(context, options)
        _ = grs_SSL_CTX_set_mode_release_buffers(context)

        // Ciphers.
        var cipherList = configuration.cipherList
        if cipherList == nil && role == .server && !configuration.allowLegacyProtocols {
            cipherList = TLSConfiguration.intermediateCipherList
        }
        if configuration.allowLegacyProtocols {
            let base = cipherList ?? "DEFAULT"
            if !base.contains("@SECLEVEL") { cipherList = base + ":@SECLEVEL=0" }
        }
        if let cipherList, SSL_CTX_set_cipher_list(context, cipherList) != 1 {
            throw fail("invalid cipherList '\(cipherList)'")
        }
        if let suites = configuration.cipherSuites, SSL_CTX_set_ciphersuites(context, suites) != 1 {
            throw fail("invalid cipherSuites '\(suites)'")
        }

        // Own certificate and key.
        if let chain = configuration.certificateChain {
            try loadCertificateChain(chain)
        }
        if let key = configuration.privateKey {
            try loadPrivateKey(key)
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw fail("private key does not match the certificate")
            }
        }
        if role == .server && (configuration.certificateChain == nil || configuration.privateKey == nil) {
            throw TLSError(.configuration, role: role, reasons: ["server mode needs a certificate chain and a private key"])
        }

        // Peer verification.
        if role == .client {
            if configuration.verifyPeer {
                SSL_CTX_set_verify(context, grs_SSL_VERIFY_PEER, nil)
                if configuration.useSystemTrustRoots, SSL_CTX_set_default_verify_paths(context) != 1 {
                    throw fail("cannot load the system trust store")
                }
                for root in configuration.additionalTrustRoots {
                    try loadTrustRoots(root)
                }
            } else {
                SSL_CTX_set_verify(context, grs_SSL_VERIFY_NONE, nil)
            }
            if !configuration.applicationProtocols.isEmpty {
                var wire: [UInt8] = []
                for proto in configuration.applicationProtocols {
                    let bytes = Array(proto.utf8)
                    guard !bytes.isEmpty, bytes.count < 256 else {
                        throw TLSError(.configuration, role: role, reasons: ["invalid ALPN protocol '\(proto)'"])
                    }
                    wire.append(UInt8(bytes.count))
                    wire.append(contentsOf: bytes)
                }
                // Unlike most OpenSSL calls, 0 means success here.
                guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0 else {
                    throw fail("cannot set ALPN protocols")
                }
            }
        } else {
            SSL_CTX_set_verify(context, grs_SSL_VERIFY_NONE, nil)
            // One process, many devices that never resume: a session cache only costs memory.
            _ = grs_SSL_CTX_disable_session_cache(context)
        }
    }

    private func withBIO<T>(_ source: PEMSource, what: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        let bio: OpaquePointer?
        switch source {
        case .file(let path):
            bio = BIO_new_file(path, "r")
            guard bio != nil else { throw fail("cannot read \(what) file \(path)") }
        case .pem(let text):
            bio = PEMReader.memoryBIO(text)
            guard bio != nil else { throw fail("cannot buffer \(what)") }
        }
        defer { BIO_free(bio) }
        return try body(bio!)
    }

    private func describe(_ source: PEMSource) -> String {
        switch source {
        case .file(let path): path
        case .pem: "inline PEM"
        }
    }

    private func loadCertificateChain(_ source: PEMSource) throws {
        try withBIO(source, what: "certificate") { bio in
            guard let leaf = PEMReader.certificate(bio) else {
                throw fail("no PEM certificate in \(describe(source))")
            }
            defer { X509_free(leaf) }
            guard SSL_CTX_use_certificate(context, leaf) == 1 else {
                throw fail("cannot use certificate from \(describe(source))")
            }
            _ = grs_SSL_CTX_clear_chain_certs(context)
            while let intermediate = PEMReader.certificate(bio) {
                // add0 takes ownership on success.
                if grs_SSL_CTX_add0_chain_cert(context, intermediate) != 1 {
                    X509_free(intermediate)
                    throw fail("cannot add chain certificate from \(describe(source))")
                }
            }
            // Reading past the last certificate leaves a "no start line" on the queue.
            OpenSSLErrorQueue.clear()
        }
    }

    private func loadPrivateKey(_ source: PEMSource) throws {
        try withBIO(source, what: "private key") { bio in
            guard let key = PEMReader.privateKey(bio) else {
                throw fail("no unencrypted PEM private key in \(describe(source))")
            }
            defer { EVP_PKEY_free(key) }
            guard SSL_CTX_use_PrivateKey(context, key) == 1 else {
                throw fail("cannot use private key from \(describe(source))")
            }
        }
    }

    private func loadTrustRoots(_ source: PEMSource) throws {
        guard let store = SSL_CTX_get_cert_store(context) else { throw fail("no certificate store") }
        try withBIO(source, what: "CA") { bio in
            var count = 0
            while let certificate = PEMReader.certificate(bio) {
                defer { X509_free(certificate) }
                guard X509_STORE_add_cert(store, certificate) == 1 else {
                    throw fail("cannot add CA certificate from \(describe(source))")
                }
                count += 1
            }
            OpenSSLErrorQueue.clear()
            if count == 0 { throw fail("no PEM certificate in CA file \(describe(source))") }
        }
    }

    /// A new OpenSSL connection in this context's role.
    ///
    /// - Parameter serverHostname: client mode: the name sent as SNI (unless it is an IP address)
    ///   and verified against the peer's certificate (DNS name or IP address).
    func makeConnection(serverHostname: String?) throws -> OpenSSLConnection {
        try OpenSSLConnection(context: self, serverHostname: serverHostname)
    }
}

extension TLSVersion {
    var openSSLValue: Int32 {
        switch self {
        case .tls1_0: grs_TLS1_VERSION
        case .tls1_1: grs_TLS1_1_VERSION
        case .tls1_2: grs_TLS1_2_VERSION
        case .tls1_3: grs_TLS1_3_VERSION
        }
    }
}
