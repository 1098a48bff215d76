#ifndef CTRANSPORTERRORS_H
#define CTRANSPORTERRORS_H

#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdint.h>
#include <microhttpd.h>

/// Queues one of Sluice's own responses with libmicrohttpd's real `MHD_queue_response`. Sluice must queue
/// through this function: the name `MHD_queue_response` is taken over by `transport_errors.c`.
enum MHD_Result CTransportErrors_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                                struct MHD_Response *response);

#endif
