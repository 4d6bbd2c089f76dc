#ifndef GRAFT_JPEG_H
#define GRAFT_JPEG_H

#include <stddef.h>

/// What graft_jpeg_read made of the data.
enum graft_jpeg_status {
    GRAFT_JPEG_OK = 0,
    /// The data ended before the last image row was decoded (Pillow: "image file is truncated").
    GRAFT_JPEG_TRUNCATED = 1,
    /// libjpeg stopped with an error (Pillow: "broken data stream"); `message` says which.
    GRAFT_JPEG_BROKEN = 2,
    /// The frame has a component count Pillow has no mode for (not 1, 3 or 4).
    GRAFT_JPEG_COMPONENTS = 3,
    /// The output buffer passed in does not have width * height * components bytes.
    GRAFT_JPEG_BUFFER = 4,
};

/// The header's facts, the first warning libjpeg met and how many it met.
struct graft_jpeg_result {
    int width;
    int height;
    /// Samples per output pixel: 1 (grey), 3 (RGB) or 4 (CMYK as libjpeg stores it).
    int components;
    /// The file's colour space as libjpeg resolved it (a J_COLOR_SPACE value).
    int jpeg_color_space;
    int warnings;
    char first_warning[200];
    char message[200];
};

/// Reads a whole JPEG file held in memory the way Pillow's JPEG decoder does: libjpeg
/// (islow IDCT, fancy upsampling) with an error manager that ignores warnings, and a
/// source that suspends at the end of the data instead of inventing an end-of-image
/// marker, so a file is refused as truncated when, and only when, libjpeg needs bytes
/// past its end before the last row is out. A file that only lacks bytes after the
/// last row (a missing EOI) is read.
///
/// With `out` NULL only the header is read (width, height, components). Otherwise
/// `out` receives `height` rows of `width * components` bytes.
int graft_jpeg_read(const unsigned char *data, size_t size, unsigned char *out, size_t out_size,
                    struct graft_jpeg_result *result);

#endif
