#include "graft_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

struct graft_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    struct graft_jpeg_result *result;
};

/// Fatal errors end the decode (longjmp back into graft_jpeg_read) with libjpeg's text.
static void graft_error_exit(j_common_ptr cinfo) {
    struct graft_error *err = (struct graft_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(err->result->message, sizeof err->result->message, "%s", text);
    longjmp(err->jump, 1);
}

/// libjpeg's default emit_message calls this for the first warning only (trace level 0).
/// Pillow prints nothing and goes on; the text is kept for tests and messages.
static void graft_output_message(j_common_ptr cinfo) {
    struct graft_error *err = (struct graft_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    if (err->result->first_warning[0] == 0) {
        snprintf(err->result->first_warning, sizeof err->result->first_warning, "%s", text);
    }
}

/// The whole file is already in the buffer, so a request for more means the data has
/// ended: suspend, as Pillow's source does when its file has no more bytes to give.
static void graft_init_source(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean graft_fill_input_buffer(j_decompress_ptr cinfo) {
    (void)cinfo;
    return FALSE;
}

static void graft_skip_input_data(j_decompress_ptr cinfo, long count) {
    struct jpeg_source_mgr *src = cinfo->src;
    if (count <= 0) return;
    if ((size_t)count > src->bytes_in_buffer) {
        // Skipping past the end: nothing is left, and the next read suspends.
        src->next_input_byte += src->bytes_in_buffer;
        src->bytes_in_buffer = 0;
    } else {
        src->next_input_byte += count;
        src->bytes_in_buffer -= (size_t)count;
    }
}

static void graft_term_source(j_decompress_ptr cinfo) { (void)cinfo; }

int graft_jpeg_read(const unsigned char *data, size_t size, unsigned char *out, size_t out_size,
                    struct graft_jpeg_result *result) {
    struct jpeg_decompress_struct cinfo;
    struct graft_error err;
    struct jpeg_source_mgr src;
    memset(result, 0, sizeof *result);
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = graft_error_exit;
    err.pub.output_message = graft_output_message;
    err.result = result;
    if (setjmp(err.jump)) {
        result->warnings = (int)err.pub.num_warnings;
        jpeg_destroy_decompress(&cinfo);
        return GRAFT_JPEG_BROKEN;
    }
    jpeg_create_decompress(&cinfo);
    src.init_source = graft_init_source;
    src.fill_input_buffer = graft_fill_input_buffer;
    src.skip_input_data = graft_skip_input_data;
    src.resync_to_restart = jpeg_resync_to_restart;
    src.term_source = graft_term_source;
    src.next_input_byte = data;
    src.bytes_in_buffer = size;
    cinfo.src = &src;

    int status = GRAFT_JPEG_OK;
    int ok;
    do {
        ok = jpeg_read_header(&cinfo, FALSE);
    } while (ok == JPEG_HEADER_TABLES_ONLY);
    if (ok == JPEG_SUSPENDED) {
        status = GRAFT_JPEG_TRUNCATED;
        goto done;
    }
    result->width = (int)cinfo.image_width;
    result->height = (int)cinfo.image_height;
    result->jpeg_color_space = (int)cinfo.jpeg_color_space;
    // Pillow's mode follows the frame's component count: L, RGB or CMYK (read as "CMYK;I").
    switch (cinfo.num_components) {
        case 1: cinfo.out_color_space = JCS_GRAYSCALE; result->components = 1; break;
        case 3: cinfo.out_color_space = JCS_RGB; result->components = 3; break;
        case 4: cinfo.out_color_space = JCS_CMYK; result->components = 4; break;
        default: result->components = cinfo.num_components; status = GRAFT_JPEG_COMPONENTS; goto done;
    }
    if (out == NULL) goto done;
    size_t row = (size_t)result->width * (size_t)result->components;
    if (out_size != row * (size_t)result->height) {
        status = GRAFT_JPEG_BUFFER;
        goto done;
    }
    // Pillow's defaults: JDCT_ISLOW and fancy upsampling (libjpeg's own defaults).
    if (!jpeg_start_decompress(&cinfo)) {
        status = GRAFT_JPEG_TRUNCATED;
        goto done;
    }
    if ((int)cinfo.output_width != result->width || (int)cinfo.output_height != result->height ||
        cinfo.output_components != result->components) {
        status = GRAFT_JPEG_BUFFER;
        goto done;
    }
    // Pillow asks for one row at a time; asking for all of them gives the same rows, faster.
    JSAMPROW *lines = (JSAMPROW *)(*cinfo.mem->alloc_small)((j_common_ptr)&cinfo, JPOOL_IMAGE,
                                                             sizeof(JSAMPROW) * cinfo.output_height);
    for (JDIMENSION k = 0; k < cinfo.output_height; k++) lines[k] = out + (size_t)k * row;
    while (cinfo.output_scanline < cinfo.output_height) {
        if (jpeg_read_scanlines(&cinfo, lines + cinfo.output_scanline,
                                cinfo.output_height - cinfo.output_scanline) == 0) {
            status = GRAFT_JPEG_TRUNCATED;
            goto done;
        }
    }
    // Every row is out: a file that ends here, without its EOI, is still read.
    (void)jpeg_finish_decompress(&cinfo);

done:
    result->warnings = (int)err.pub.num_warnings;
    jpeg_destroy_decompress(&cinfo);
    return status;
}
