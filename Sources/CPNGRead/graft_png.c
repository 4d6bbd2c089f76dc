#include "graft_png.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

/// The file in memory, read front to back.
struct graft_png_source {
    const unsigned char *data;
    size_t size;
    size_t at;
};

struct graft_png_error {
    jmp_buf jump;
    struct graft_png_result *result;
};

/// Fatal errors end the decode (longjmp back into graft_png_read) with libpng's text.
static void graft_png_error_fn(png_structp png, png_const_charp text) {
    struct graft_png_error *err = (struct graft_png_error *)png_get_error_ptr(png);
    snprintf(err->result->message, sizeof err->result->message, "%s", text);
    longjmp(err->jump, 1);
}

/// Warnings (and benign errors, made warnings) are counted; reading goes on.
static void graft_png_warning_fn(png_structp png, png_const_charp text) {
    (void)text;
    struct graft_png_error *err = (struct graft_png_error *)png_get_error_ptr(png);
    err->result->warnings += 1;
}

/// Hands libpng the next bytes; asking past the end is an error (the simplified API's words).
static void graft_png_read_fn(png_structp png, png_bytep out, size_t count) {
    struct graft_png_source *src = (struct graft_png_source *)png_get_io_ptr(png);
    if (src == NULL || count > src->size - src->at) {
        png_error(png, "read beyond end of data");
    }
    memcpy(out, src->data + src->at, count);
    src->at += count;
}

int graft_png_read(const unsigned char *data, size_t size, unsigned char *out, size_t out_size,
                   struct graft_png_result *result) {
    struct graft_png_error err;
    struct graft_png_source src = {data, size, 0};
    memset(result, 0, sizeof *result);
    err.result = result;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, graft_png_error_fn,
                                             graft_png_warning_fn);
    if (png == NULL) {
        snprintf(result->message, sizeof result->message, "out of memory");
        return GRAFT_PNG_BROKEN;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(result->message, sizeof result->message, "out of memory");
        return GRAFT_PNG_BROKEN;
    }
    // png and info are not changed between here and any longjmp.
    if (setjmp(err.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        return GRAFT_PNG_BROKEN;
    }
    png_set_read_fn(png, &src, graft_png_read_fn);
    // As png_image_begin_read does: benign errors are warnings.
    png_set_benign_errors(png, 1);
    png_read_info(png, info);
    result->width = png_get_image_width(png, info);
    result->height = png_get_image_height(png, info);
    result->bit_depth = png_get_bit_depth(png, info);
    result->color_type = png_get_color_type(png, info);

    // The stored samples: no gamma, background or alpha transform is asked for.
    png_set_expand(png);
    png_set_strip_16(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    result->channels = png_get_channels(png, info);

    int status = GRAFT_PNG_OK;
    if (out != NULL) {
        size_t row = png_get_rowbytes(png, info);
        if (png_get_bit_depth(png, info) != 8 || row != (size_t)result->width * (size_t)result->channels ||
            out_size != row * (size_t)result->height) {
            status = GRAFT_PNG_BUFFER;
        } else {
            // Row by row, pass by pass (Adam7 fills in the rows of earlier passes), as
            // png_image_finish_read does; nothing after the last row is read.
            for (int pass = 0; pass < passes; pass++) {
                for (png_uint_32 y = 0; y < result->height; y++) {
                    png_read_row(png, out + (size_t)y * row, NULL);
                }
            }
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    return status;
}
