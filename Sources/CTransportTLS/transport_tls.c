// HTTPS for Sluice's transport through libmicrohttpd's GnuTLS support.
//
// libmicrohttpd takes a certificate once, when a daemon starts (MHD_OPTION_HTTPS_MEM_CERT), or asks a callback
// for one at every handshake (MHD_OPTION_HTTPS_CERT_CALLBACK2). Sluice uses the callback, so that a renewed
// certificate (SIGHUP) is served from the next handshake on without restarting anything: the callback imports
// the current PEM chain and key under a lock and hands GnuTLS its own copies, which GnuTLS frees when the
// handshake is done (GNUTLS_CERT_RETR_DEINIT_ALL). GnuTLS sets each session's pointer to its libmicrohttpd
// connection, whose socket context (set by the server's connection callback) leads to the credentials.
// Importing per handshake costs a few microseconds beside the handshake's own public-key operations.
//
// It also writes the answers libmicrohttpd cannot send itself (an error while a body is still arriving, the
// JSON of the errors it answers) through the connection's TLS session when it has one.

#define _GNU_SOURCE
#include "CTransportTLS.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

/// The longest certificate chain accepted.
enum { MAXIMUM_CHAIN = 16 };

struct CTransportTLS_credentials {
    pthread_mutex_t lock;
    gnutls_datum_t chain;
    gnutls_datum_t key;
};

CTransportTLS_credentials *CTransportTLS_credentials_create(void)
{
    CTransportTLS_credentials *credentials = calloc(1, sizeof *credentials);
    if (credentials != NULL) pthread_mutex_init(&credentials->lock, NULL);
    return credentials;
}

static void copy(gnutls_datum_t *target, const char *bytes, size_t length)
{
    target->data = malloc(length);
    target->size = target->data == NULL ? 0 : (unsigned int) length;
    if (target->data != NULL) memcpy(target->data, bytes, length);
}

int CTransportTLS_credentials_replace(CTransportTLS_credentials *credentials, const char *chain, size_t chain_length,
                                      const char *key, size_t key_length, char *error, size_t error_size)
{
    gnutls_certificate_credentials_t check;
    gnutls_datum_t chain_datum = {(unsigned char *) chain, (unsigned int) chain_length};
    gnutls_datum_t key_datum = {(unsigned char *) key, (unsigned int) key_length};
    int result = gnutls_certificate_allocate_credentials(&check);
    if (result >= 0) {
        // Parses both and checks that the key belongs to the chain's first certificate.
        result = gnutls_certificate_set_x509_key_mem2(check, &chain_datum, &key_datum, GNUTLS_X509_FMT_PEM, NULL, 0);
        gnutls_certificate_free_credentials(check);
    }
    if (result < 0) {
        snprintf(error, error_size, "%s", gnutls_strerror(result));
        return -1;
    }
    gnutls_datum_t new_chain, new_key;
    copy(&new_chain, chain, chain_length);
    copy(&new_key, key, key_length);
    if (new_chain.data == NULL || new_key.data == NULL) {
        free(new_chain.data);
        free(new_key.data);
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&credentials->lock);
    gnutls_datum_t old_chain = credentials->chain, old_key = credentials->key;
    credentials->chain = new_chain;
    credentials->key = new_key;
    pthread_mutex_unlock(&credentials->lock);
    free(old_chain.data);
    if (old_key.data != NULL) explicit_bzero(old_key.data, old_key.size);
    free(old_key.data);
    return 0;
}

void CTransportTLS_credentials_destroy(CTransportTLS_credentials *credentials)
{
    if (credentials == NULL) return;
    free(credentials->chain.data);
    if (credentials->key.data != NULL) explicit_bzero(credentials->key.data, credentials->key.size);
    free(credentials->key.data);
    pthread_mutex_destroy(&credentials->lock);
    free(credentials);
}

static int retrieve_certificate(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                                gnutls_pcert_st **certificates, unsigned int *certificates_length,
                                gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length, gnutls_privkey_t *key,
                                unsigned int *flags)
{
    (void) info;
    struct MHD_Connection *connection = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *context =
        connection == NULL ? NULL : MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    CTransportTLS_credentials *credentials = context == NULL ? NULL : context->socket_context;
    if (credentials == NULL) return -1;

    gnutls_pcert_st *list = gnutls_malloc(sizeof(gnutls_pcert_st) * MAXIMUM_CHAIN);
    gnutls_privkey_t private_key = NULL;
    unsigned int count = MAXIMUM_CHAIN;
    int result = list == NULL ? GNUTLS_E_MEMORY_ERROR : gnutls_privkey_init(&private_key);
    pthread_mutex_lock(&credentials->lock);
    if (result >= 0) result = gnutls_pcert_list_import_x509_raw(list, &count, &credentials->chain, GNUTLS_X509_FMT_PEM, 0);
    if (result >= 0) {
        result = gnutls_privkey_import_x509_raw(private_key, &credentials->key, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (result < 0) {
            for (unsigned int index = 0; index < count; index++) gnutls_pcert_deinit(&list[index]);
        }
    }
    pthread_mutex_unlock(&credentials->lock);
    if (result < 0) {
        if (private_key != NULL) gnutls_privkey_deinit(private_key);
        gnutls_free(list);
        return -1;
    }
    *certificates = list;
    *certificates_length = count;
    *ocsp = NULL;
    *ocsp_length = 0;
    *key = private_key;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

void *CTransportTLS_certificate_callback(void)
{
    return (void *) &retrieve_certificate;
}

const char *CTransportTLS_priorities(void)
{
    return "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
}

static gnutls_session_t session_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return info == NULL ? NULL : (gnutls_session_t) info->tls_session;
}

int CTransportTLS_is_tls(struct MHD_Connection *connection)
{
    return session_of(connection) != NULL;
}

size_t CTransportTLS_send(struct MHD_Connection *connection, int fd, const void *data, size_t length)
{
    gnutls_session_t session = session_of(connection);
    size_t sent = 0;
    int stalls = 0;
    while (sent < length) {
        ssize_t written = session != NULL
            ? gnutls_record_send(session, (const char *) data + sent, length - sent)
            : send(fd, (const char *) data + sent, length - sent, MSG_NOSIGNAL);
        if (written > 0) {
            sent += (size_t) written;
            continue;
        }
        int again = session != NULL ? (written == GNUTLS_E_AGAIN || written == GNUTLS_E_INTERRUPTED)
                                    : (written < 0 && (errno == EAGAIN || errno == EINTR));
        // A non-blocking socket that is full: a peer not reading its answer is not waited for long.
        if (!again || ++stalls > 100) break;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return sent;
}

void CTransportTLS_shutdown_sending(struct MHD_Connection *connection, int fd)
{
    gnutls_session_t session = session_of(connection);
    if (session != NULL) (void) gnutls_bye(session, GNUTLS_SHUT_WR);
    shutdown(fd, SHUT_WR);
}
