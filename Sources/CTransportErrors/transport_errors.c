// JSON bodies for the errors libmicrohttpd answers by itself.
//
// libmicrohttpd 0.9.75 refuses a request it cannot parse before Sluice sees it: a request line or header
// block larger than the connection's memory (414, 431), a malformed request line, header, chunk or
// Content-Length (400), a Content-Length that overflows (413), an unsupported HTTP version (505). It answers
// with a fixed HTML body it offers no option for, and after a bad Content-Length it sends its response head
// twice (it resumes parsing as if the head were fine). Sluice promises `{"error":{"code","message"}}` for
// every error, so this file defines `MHD_queue_response` itself: the executable's definition takes
// precedence over the library's, and libmicrohttpd queues those errors through it (the call goes through its
// PLT). Every call that reaches it therefore comes from libmicrohttpd, because Sluice queues its own
// responses with `CTransportErrors_queue_response`. For an error status it writes one complete JSON response
// straight to the connection (through its TLS session on HTTPS), which is still empty (these errors come before
// any reply), shuts down the sending side and returns MHD_NO, which makes libmicrohttpd close the connection without sending anything itself.
// Any other status is passed on to the library's `MHD_queue_response`, found with `dlsym(RTLD_NEXT)`.
// The transport's tests check these answers, so a library that stopped calling through its PLT would fail
// them rather than silently send HTML again.

#define _GNU_SOURCE
#include "CTransportErrors.h"
#include "CTransportTLS.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef enum MHD_Result (*queue_response_function)(struct MHD_Connection *, unsigned int, struct MHD_Response *);

static queue_response_function library_queue_response;
static pthread_once_t library_queue_response_once = PTHREAD_ONCE_INIT;

static void find_library_queue_response(void)
{
    library_queue_response = (queue_response_function) dlsym(RTLD_NEXT, "MHD_queue_response");
}

enum MHD_Result CTransportErrors_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                                struct MHD_Response *response)
{
    pthread_once(&library_queue_response_once, find_library_queue_response);
    return library_queue_response == NULL ? MHD_NO : library_queue_response(connection, status_code, response);
}

/// The reason phrase and JSON body for an error status libmicrohttpd answers itself; NULL for others.
static const char *error_body(unsigned int status_code, const char **reason)
{
    switch (status_code) {
    case 400:
        *reason = "Bad Request";
        return "{\"error\":{\"code\":\"malformed_request\",\"message\":\"the request is not valid HTTP/1.1: its "
               "request line, a header line, the Content-Length or the chunked encoding cannot be parsed\"}}";
    case 413:
        *reason = "Content Too Large";
        return "{\"error\":{\"code\":\"payload_too_large\",\"message\":\"the Content-Length or a chunk is too large\"}}";
    case 414:
        *reason = "URI Too Long";
        return "{\"error\":{\"code\":\"uri_too_long\",\"message\":\"the request line is longer than the server accepts\"}}";
    case 431:
        *reason = "Request Header Fields Too Large";
        return "{\"error\":{\"code\":\"headers_too_large\",\"message\":\"the request line and headers are larger than "
               "the server accepts\"}}";
    case 500:
        *reason = "Internal Server Error";
        return "{\"error\":{\"code\":\"internal_error\",\"message\":\"the server could not process the request\"}}";
    case 505:
        *reason = "HTTP Version Not Supported";
        return "{\"error\":{\"code\":\"http_version_not_supported\",\"message\":\"only HTTP/1.0 and HTTP/1.1 are "
               "supported\"}}";
    default:
        return NULL;
    }
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
    const char *reason = NULL;
    const char *body = error_body(status_code, &reason);
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (body == NULL || info == NULL) return CTransportErrors_queue_response(connection, status_code, response);
    char message[1024];
    int length = snprintf(message, sizeof message,
                          "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n%s", status_code, reason, strlen(body), body);
    if (length > 0 && (size_t) length < sizeof message) {
        CTransportTLS_send(connection, info->connect_fd, message, (size_t) length);
    }
    CTransportTLS_shutdown_sending(connection, info->connect_fd);
    return MHD_NO;
}
