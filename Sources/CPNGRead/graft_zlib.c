#include "graft_zlib.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

static int graft_finish(struct graft_inflated *result, int status, const char *message) {
    result->status = status;
    if (message != NULL) snprintf(result->message, sizeof result->message, "%s", message);
    return status;
}

int graft_inflate(const unsigned char *in, size_t in_size, size_t max_out, struct graft_inflated *result) {
    memset(result, 0, sizeof *result);
    // RFC 1950's header: deflate, a window of at most 32K, a valid check, no preset dictionary.
    if (in_size < 2) return graft_finish(result, GRAFT_INFLATE_CUT, "the zlib stream is shorter than its header");
    unsigned cmf = in[0], flg = in[1];
    if ((cmf & 0x0F) != 8 || (cmf >> 4) > 7 || ((cmf << 8) | flg) % 31 != 0 || (flg & 0x20) != 0) {
        return graft_finish(result, GRAFT_INFLATE_BROKEN, "bad zlib header");
    }
    // The deflate data is inflated raw, and the Adler-32 after it compared here, so that a
    // checksum that is missing or wrong is told apart from damaged data.
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) return graft_finish(result, GRAFT_INFLATE_MEMORY, "out of memory");
    const unsigned char *next = in + 2;
    size_t left = in_size - 2;
    size_t capacity = 0;
    int status = -1;
    while (status < 0) {
        if (z.avail_in == 0 && left > 0) {
            uInt n = left > UINT_MAX ? UINT_MAX : (uInt)left;
            z.next_in = (Bytef *)next;
            z.avail_in = n;
            next += n;
            left -= n;
        }
        if (z.avail_out == 0) {
            if (result->size == max_out) {
                status = GRAFT_INFLATE_FULL;
                break;
            }
            size_t grown = capacity == 0 ? (in_size < (1u << 16) ? (1u << 16) : in_size * 4) : capacity * 2;
            if (grown > max_out || grown < capacity) grown = max_out;
            unsigned char *bigger = realloc(result->data, grown);
            if (bigger == NULL) {
                status = GRAFT_INFLATE_MEMORY;
                snprintf(result->message, sizeof result->message, "out of memory");
                break;
            }
            result->data = bigger;
            capacity = grown;
            size_t room = capacity - result->size;
            z.next_out = result->data + result->size;
            z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        }
        unsigned char *before = z.next_out;
        int ret = inflate(&z, Z_NO_FLUSH);
        result->size += (size_t)(z.next_out - before);
        switch (ret) {
        case Z_STREAM_END: {
            const unsigned char *tail = z.next_in;
            size_t after = in_size - (size_t)(tail - in);
            if (after < 4) {
                status = GRAFT_INFLATE_UNCHECKED;
            } else {
                unsigned long stored = (unsigned long)tail[0] << 24 | (unsigned long)tail[1] << 16 |
                                       (unsigned long)tail[2] << 8 | (unsigned long)tail[3];
                unsigned long adler = adler32_z(adler32_z(0, Z_NULL, 0), result->data, result->size);
                status = stored == adler ? GRAFT_INFLATE_END : GRAFT_INFLATE_CHECKSUM;
                if (status == GRAFT_INFLATE_CHECKSUM) {
                    snprintf(result->message, sizeof result->message, "incorrect data check");
                }
            }
            break;
        }
        case Z_OK:
        case Z_BUF_ERROR:
            // Stopped for room (grown, or FULL, above) or for input.
            if (z.avail_out != 0 && z.avail_in == 0 && left == 0) {
                status = GRAFT_INFLATE_CUT;
                snprintf(result->message, sizeof result->message, "the compressed data ends early");
            } else if (z.avail_out != 0 && z.avail_in != 0) {
                status = GRAFT_INFLATE_BROKEN;  // no progress with room and input: never expected
                snprintf(result->message, sizeof result->message, "zlib made no progress");
            }
            break;
        case Z_MEM_ERROR:
            status = GRAFT_INFLATE_MEMORY;
            snprintf(result->message, sizeof result->message, "out of memory");
            break;
        default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
            status = GRAFT_INFLATE_BROKEN;
            snprintf(result->message, sizeof result->message, "%s", z.msg != NULL ? z.msg : "invalid deflate data");
            break;
        }
    }
    inflateEnd(&z);
    result->status = status;
    return status;
}

int graft_deflate_stored(const unsigned char *in, size_t in_size, struct graft_inflated *result) {
    memset(result, 0, sizeof *result);
    uLongf size = compressBound((uLong)in_size);
    result->data = malloc(size == 0 ? 1 : size);
    if (result->data == NULL) return graft_finish(result, GRAFT_INFLATE_MEMORY, "out of memory");
    if (compress2(result->data, &size, in, (uLong)in_size, 0) != Z_OK) {
        free(result->data);
        result->data = NULL;
        return graft_finish(result, GRAFT_INFLATE_MEMORY, "out of memory");
    }
    result->size = size;
    return graft_finish(result, GRAFT_INFLATE_END, NULL);
}

void graft_inflated_free(struct graft_inflated *result) {
    free(result->data);
    result->data = NULL;
    result->size = 0;
}
