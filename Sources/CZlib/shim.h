#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H

#include <zlib.h>

/// `deflateInit2` is a macro (it passes the version and struct size to `deflateInit2_`), which Swift
/// cannot call. `window_bits` 31 selects the gzip wrapper.
static inline int CZlib_deflateInit2(z_streamp stream, int level, int window_bits, int mem_level) {
    return deflateInit2(stream, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY);
}

/// `inflateInit2` is a macro for the same reason; `window_bits` 47 accepts gzip or zlib headers.
static inline int CZlib_inflateInit2(z_streamp stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}

#endif
