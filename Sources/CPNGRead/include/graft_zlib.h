#ifndef GRAFT_ZLIB_H
#define GRAFT_ZLIB_H

#include <stddef.h>

/// How a zlib stream (RFC 1950) inflated by graft_inflate ended.
enum graft_inflate_status {
    /// The deflate data ended and the Adler-32 after it matches the output.
    GRAFT_INFLATE_END = 0,
    /// The deflate data ended, but fewer than 4 bytes (the Adler-32) follow it.
    GRAFT_INFLATE_UNCHECKED = 1,
    /// The deflate data ended, and the Adler-32 after it does not match the output.
    GRAFT_INFLATE_CHECKSUM = 2,
    /// `max_out` bytes came out before the deflate data ended (it may go on).
    GRAFT_INFLATE_FULL = 3,
    /// The input ended before the deflate data did.
    GRAFT_INFLATE_CUT = 4,
    /// Not a zlib header, or deflate data zlib refuses; `message` says which.
    GRAFT_INFLATE_BROKEN = 5,
    /// No memory for the output.
    GRAFT_INFLATE_MEMORY = 6,
};

/// What came out: `data` (malloc'd, `size` bytes, NULL when empty; free it with
/// graft_inflated_free) holds every byte zlib produced before it stopped, whatever the status.
struct graft_inflated {
    unsigned char *data;
    size_t size;
    int status;
    char message[120];
};

/// Inflates the zlib stream at the start of `in` with zlib, producing at most `max_out`
/// bytes. The output buffer grows as output arrives, so a short stream costs little
/// whatever `max_out` is. Bytes after the stream's checksum are ignored.
int graft_inflate(const unsigned char *in, size_t in_size, size_t max_out, struct graft_inflated *result);

/// Wraps `in` in a zlib stream of stored (uncompressed) blocks with zlib (level 0), for
/// libpng to read back exactly. The status is GRAFT_INFLATE_END, or GRAFT_INFLATE_MEMORY.
int graft_deflate_stored(const unsigned char *in, size_t in_size, struct graft_inflated *result);

void graft_inflated_free(struct graft_inflated *result);

#endif
