#ifndef CGNUTLS_SHIM_H
#define CGNUTLS_SHIM_H

// GnuTLS, the TLS library libmicrohttpd is built with: CTransportTLS uses it to hand each HTTPS handshake
// the current certificate (replaceable while the server runs) and to write on a TLS connection.
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#endif
