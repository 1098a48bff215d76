#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <microhttpd.h>

/// Options for `CMicroHTTPD_start_daemon`, so Swift passes one struct instead of a variadic list.
typedef struct CMicroHTTPD_Options {
    const struct sockaddr *bind_address;
    unsigned int connection_limit;
    unsigned int per_ip_connection_limit;
    unsigned int connection_timeout_seconds;
    unsigned int thread_pool_size;
    size_t connection_memory_limit;
    unsigned int listen_backlog;
    /// HTTPS (with `MHD_USE_TLS` in the flags): a `gnutls_certificate_retrieve_function3` asked for the certificate
    /// at every handshake, and the GnuTLS priority string; NULL for plain HTTP.
    void *tls_certificate_callback;
    const char *tls_priorities;
} CMicroHTTPD_Options;

/// Decodes `%HH` escapes in a URI path or argument in place, as libmicrohttpd's default does, except those
/// of control characters (`%00`–`%1F`, `%7F`), which stay escaped: decoded, `%00` would cut the C string
/// the handler sees (`/tenants/a%00/files` answered for tenant `a`). Sluice refuses such paths.
static inline size_t CMicroHTTPD_unescape_keeping_controls(void *cls, struct MHD_Connection *connection, char *text)
{
    (void) cls; (void) connection;
    char *out = text;
    for (const char *in = text; *in != '\0'; in++) {
        int high = -1, low = -1;
        if (in[0] == '%' && in[1] != '\0' && in[2] != '\0') {
            char h = in[1], l = in[2];
            high = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            low = l >= '0' && l <= '9' ? l - '0' : l >= 'a' && l <= 'f' ? l - 'a' + 10 : l >= 'A' && l <= 'F' ? l - 'A' + 10 : -1;
        }
        int value = high >= 0 && low >= 0 ? high * 16 + low : -1;
        if (value >= 0x20 && value != 0x7F) {
            *out++ = (char) value;
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t) (out - text);
}

/// A response whose body `reader` produces while it is sent: its size unknown, so HTTP/1.1 sends it chunked.
/// `release` is called with `context` once libmicrohttpd is done with the response.
static inline struct MHD_Response *CMicroHTTPD_create_streaming_response(
    size_t block_size, MHD_ContentReaderCallback reader, void *context, MHD_ContentReaderFreeCallback release)
{
    return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block_size, reader, context, release);
}

/// What a content reader returns at the end of the body, and to abort it (the connection is closed).
static const ssize_t CMicroHTTPD_content_reader_end_of_stream = MHD_CONTENT_READER_END_OF_STREAM;
static const ssize_t CMicroHTTPD_content_reader_end_with_error = MHD_CONTENT_READER_END_WITH_ERROR;

/// `MHD_start_daemon` is variadic and therefore unavailable in Swift: this wrapper passes the
/// options as an `MHD_OPTION_ARRAY`, including the callbacks and their context pointer.
static inline struct MHD_Daemon *CMicroHTTPD_start_daemon(
    unsigned int flags, uint16_t port, const CMicroHTTPD_Options *options,
    MHD_AcceptPolicyCallback accept_policy, MHD_AccessHandlerCallback handler,
    MHD_RequestCompletedCallback completed, MHD_NotifyConnectionCallback notify, void *context)
{
    struct MHD_OptionItem items[] = {
        { MHD_OPTION_SOCK_ADDR, 0, (void *) options->bind_address },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t) options->connection_limit, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t) options->per_ip_connection_limit, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) options->connection_timeout_seconds, NULL },
        { MHD_OPTION_THREAD_POOL_SIZE, (intptr_t) options->thread_pool_size, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) options->connection_memory_limit, NULL },
        { MHD_OPTION_LISTEN_BACKLOG_SIZE, (intptr_t) options->listen_backlog, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) completed, context },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) notify, context },
        { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t) CMicroHTTPD_unescape_keeping_controls, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    if (options->tls_certificate_callback != NULL) {
        // Passed directly rather than in the array: the variadic options are parsed for every option.
        return MHD_start_daemon(flags, port, accept_policy, context, handler, context, MHD_OPTION_ARRAY, items,
                                MHD_OPTION_HTTPS_CERT_CALLBACK2, options->tls_certificate_callback,
                                MHD_OPTION_HTTPS_PRIORITIES, options->tls_priorities, MHD_OPTION_END);
    }
    return MHD_start_daemon(flags, port, accept_policy, context, handler, context,
                            MHD_OPTION_ARRAY, items, MHD_OPTION_END);
}

/// `MHD_get_daemon_info` is variadic: the port the daemon actually bound (useful with port 0).
static inline uint16_t CMicroHTTPD_bound_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/// `MHD_get_connection_info` is variadic: the peer address of a connection.
static inline const struct sockaddr *CMicroHTTPD_client_address(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info == NULL ? NULL : info->client_addr;
}

/// `MHD_get_connection_info` is variadic: the connection's socket, used only to send a final error
/// response while a request body is still arriving (libmicrohttpd 0.9.75 cannot queue one then).
static inline int CMicroHTTPD_connection_fd(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

/// `MHD_get_connection_info` is variadic: whether libmicrohttpd still holds the connection suspended
/// (a resume takes effect on the worker thread's next turn, after `MHD_resume_connection` returned).
static inline int CMicroHTTPD_connection_suspended(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);
    return info != NULL && info->suspended == MHD_YES;
}

/// Probes a connection's socket without blocking or consuming anything: returns 2 when the connection
/// failed or was hung up, 1 when the peer shut down its sending side (with the bytes still waiting to be
/// read in `*waiting`), 0 while the peer can still send.
/// (`ioctl` is variadic, and `POLLRDHUP` needs `_GNU_SOURCE`: neither is usable from Swift.)
static inline int CMicroHTTPD_peer_hung_up(int fd, long long *waiting)
{
    struct pollfd descriptor = { .fd = fd, .events = POLLIN | 0x2000 /* POLLRDHUP */, .revents = 0 };
    *waiting = 0;
    if (poll(&descriptor, 1, 0) != 1) return 0;
    if (descriptor.revents & (POLLERR | POLLHUP | POLLNVAL)) return 2;
    if (!(descriptor.revents & 0x2000)) return 0;
    int pending = 0;
    if (ioctl(fd, FIONREAD, &pending) == 0) *waiting = pending;
    return 1;
}

#endif
