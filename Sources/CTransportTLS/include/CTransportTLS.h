#ifndef CTRANSPORTTLS_H
#define CTRANSPORTTLS_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// A certificate chain and its private key (PEM) that can be replaced while a server runs: every TLS handshake
/// takes its own copies of the current ones, so a replacement never disturbs a handshake in progress.
typedef struct CTransportTLS_credentials CTransportTLS_credentials;

/// New, empty credentials (handshakes fail until `CTransportTLS_credentials_replace` succeeds); NULL without memory.
CTransportTLS_credentials *CTransportTLS_credentials_create(void);

/// Replaces the chain and key after checking that they parse and that the key matches the chain's first
/// certificate. Returns 0, or -1 with the reason in `error` (at most `error_size` bytes, NUL-terminated), in
/// which case the current ones stay.
int CTransportTLS_credentials_replace(CTransportTLS_credentials *credentials, const char *chain, size_t chain_length,
                                      const char *key, size_t key_length, char *error, size_t error_size);

/// Frees the credentials; the server using them must have stopped.
void CTransportTLS_credentials_destroy(CTransportTLS_credentials *credentials);

/// The `gnutls_certificate_retrieve_function3` to give libmicrohttpd as `MHD_OPTION_HTTPS_CERT_CALLBACK2`. It finds
/// the credentials in the connection's socket context, which the server's connection callback sets.
void *CTransportTLS_certificate_callback(void);

/// The GnuTLS priority string HTTPS listeners use: TLS 1.3 and 1.2 only, with GnuTLS's default ciphers.
const char *CTransportTLS_priorities(void);

/// Writes `length` bytes on a connection: through its TLS session when it has one, else on its socket `fd`.
/// Call it only from the connection's worker thread (a TLS session must not be written by two threads at once).
/// Returns the bytes written (fewer if the peer went away).
size_t CTransportTLS_send(struct MHD_Connection *connection, int fd, const void *data, size_t length);

/// Whether the connection is a TLS one.
int CTransportTLS_is_tls(struct MHD_Connection *connection);

/// Ends the sending side of a connection: TLS close_notify first when it has a session (best effort), then
/// `shutdown(SHUT_WR)`. Worker thread only, like `CTransportTLS_send`.
void CTransportTLS_shutdown_sending(struct MHD_Connection *connection, int fd);

#endif
