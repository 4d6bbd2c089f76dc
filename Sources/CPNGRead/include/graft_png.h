#ifndef GRAFT_PNG_H
#define GRAFT_PNG_H

#include <stddef.h>

/// What graft_png_read made of the data.
enum graft_png_status {
    GRAFT_PNG_OK = 0,
    /// libpng stopped with an error; `message` says which (libpng's own words).
    GRAFT_PNG_BROKEN = 1,
    /// The output buffer passed in does not have width * height * channels bytes.
    GRAFT_PNG_BUFFER = 2,
};

/// The header's facts and libpng's error message.
struct graft_png_result {
    unsigned width;
    unsigned height;
    /// IHDR's bit depth and colour type.
    int bit_depth;
    int color_type;
    /// Samples per output pixel: 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA).
    int channels;
    /// libpng's warnings (benign errors among them) before the end.
    int warnings;
    char message[200];
};

/// Reads a whole PNG file held in memory with libpng's full API, handing back the stored
/// samples as bytes, with no colour or alpha transform: palettes are expanded to RGB and
/// 1/2/4-bit grey to 8 bits (png_set_expand), 16-bit samples are reduced to their high
/// byte (png_set_strip_16, which Pillow's "RGBA;16B" and "LA;16B" unpackers also do), and
/// Adam7 passes are put together by libpng. Alpha is returned as stored, never
/// premultiplied (libpng's simplified API premultiplies 16-bit alpha).
///
/// It reads what libpng's simplified API reads (png_image_finish_read): the header, then
/// the rows, with benign errors as warnings, and nothing after the last row.
///
/// With `out` NULL only the header is read. Otherwise `out` receives `height` rows of
/// `width * channels` bytes.
int graft_png_read(const unsigned char *data, size_t size, unsigned char *out, size_t out_size,
                   struct graft_png_result *result);

#endif
