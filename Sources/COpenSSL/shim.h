#ifndef GRAPH_RELAY_COPENSSL_SHIM_H
#define GRAPH_RELAY_COPENSSL_SHIM_H

// Only non-deprecated OpenSSL 3.0 API is used by graph-relay.
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#endif
