#ifndef GRAPH_RELAY_COPENSSL_SHIMS_H
#define GRAPH_RELAY_COPENSSL_SHIMS_H

// Function-like macros and flag values of OpenSSL 3.0 that Swift cannot import, wrapped as
// functions and constants. Nothing here adds behaviour: each shim is the macro it names.

#ifndef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 30000
#endif
#ifndef OPENSSL_NO_DEPRECATED
#define OPENSSL_NO_DEPRECATED 1
#endif
#include <openssl/ssl.h>
#include <openssl/bio.h>
#include <openssl/rsa.h>
#include <openssl/evp.h>
#include <stdint.h>

// MARK: Protocol versions

static inline int grs_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int grs_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static const int grs_TLS1_VERSION = TLS1_VERSION;
static const int grs_TLS1_1_VERSION = TLS1_1_VERSION;
static const int grs_TLS1_2_VERSION = TLS1_2_VERSION;
static const int grs_TLS1_3_VERSION = TLS1_3_VERSION;

// MARK: Options and modes

static const uint64_t grs_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t grs_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
static const uint64_t grs_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
static const uint64_t grs_SSL_OP_IGNORE_UNEXPECTED_EOF = SSL_OP_IGNORE_UNEXPECTED_EOF;
static const uint64_t grs_SSL_OP_NO_TICKET = SSL_OP_NO_TICKET;

static inline uint64_t grs_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_set_options(ctx, options);
}
static inline long grs_SSL_CTX_set_mode_release_buffers(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}
static inline long grs_SSL_CTX_disable_session_cache(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

static inline int grs_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *certificate) {
    return (int)SSL_CTX_add0_chain_cert(ctx, certificate);
}
static inline int grs_SSL_CTX_clear_chain_certs(SSL_CTX *ctx) {
    return (int)SSL_CTX_clear_chain_certs(ctx);
}

// MARK: Per-connection

static inline int grs_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline size_t grs_BIO_pending(BIO *bio) {
    return (size_t)BIO_pending(bio);
}
static inline int grs_BIO_set_mem_eof_return(BIO *bio, int value) {
    return (int)BIO_set_mem_eof_return(bio, value);
}

// MARK: Errors

static const int grs_SSL_ERROR_NONE = SSL_ERROR_NONE;
static const int grs_SSL_ERROR_SSL = SSL_ERROR_SSL;
static const int grs_SSL_ERROR_WANT_READ = SSL_ERROR_WANT_READ;
static const int grs_SSL_ERROR_WANT_WRITE = SSL_ERROR_WANT_WRITE;
static const int grs_SSL_ERROR_SYSCALL = SSL_ERROR_SYSCALL;
static const int grs_SSL_ERROR_ZERO_RETURN = SSL_ERROR_ZERO_RETURN;

static const int grs_SSL_VERIFY_NONE = SSL_VERIFY_NONE;
static const int grs_SSL_VERIFY_PEER = SSL_VERIFY_PEER;

// MARK: Key material

static const int grs_RSA_PKCS1_PSS_PADDING = RSA_PKCS1_PSS_PADDING;
static const int grs_RSA_PSS_SALTLEN_DIGEST = RSA_PSS_SALTLEN_DIGEST;

#endif
