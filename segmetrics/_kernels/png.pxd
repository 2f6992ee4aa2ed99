# C-level entry points of the PNG decoder, for kernels that decode and score an
# image inside one nogil block (``from segmetrics._kernels.png cimport ...``).
#
# Usage (all nogil):
#     png_header hdr
#     status = png_read_header(data, size, &hdr, err, errlen)
#     # status 0: allocate hdr.height * hdr.row_bytes bytes (C order; shape
#     #   (height, width[, out_channels]), itemsize out_itemsize) and call
#     #   png_decode_into; 1: use the Python fallback (segmetrics.io.png);
#     #   -1: corrupt file, NUL-terminated reason in err.
#     status = png_decode_into(data, size, &hdr, out, out_size, err, errlen)
# or, to unfilter row by row (fused with a consumer of each row):
#     status = png_inflate(data, size, &hdr, raw, raw_size, err, errlen)
#     # row y: ftype = raw[y * (row_bytes + 1)], filtered bytes after it
#     status = png_unfilter_row(hdr.bpp, ftype, inp, prev, out, hdr.row_bytes)
# png_read_header applies the process-wide pixel limit (segmetrics.io.png.set_max_pixels)
# and reports files with 1-, 2- or 4-bit samples as status 1; png_parse takes the limit
# as an argument and returns 2 for those (png_decode_into then writes one byte per pixel,
# width * height bytes) and -2 for an image above the limit (hdr then holds the IHDR fields).
from libc.stdint cimport uint8_t, uint32_t

cdef struct png_header:
    uint32_t width
    uint32_t height
    int bit_depth
    int color_type
    int interlace
    int channels        # samples per pixel in the file
    int out_channels    # samples per pixel in the decoded array
    int out_itemsize    # 1 (uint8) or 2 (uint16, native byte order)
    int bpp             # bytes per complete pixel (filter stride), at least 1
    size_t row_bytes    # bytes of one unfiltered row
    size_t raw_bytes    # inflated size: height * (row_bytes + 1)
    size_t n_idat
    size_t idat_bytes

cdef int png_read_header(const uint8_t *data, size_t size, png_header *hdr,
                         char *err, size_t errlen) noexcept nogil
cdef int png_decode_into(const uint8_t *data, size_t size, const png_header *hdr,
                         uint8_t *out, size_t out_size,
                         char *err, size_t errlen) noexcept nogil
cdef int png_inflate(const uint8_t *data, size_t size, const png_header *hdr,
                     uint8_t *raw, size_t raw_size, char *err, size_t errlen) noexcept nogil
cdef int png_unfilter_row(int bpp, int ftype, const uint8_t *inp, const uint8_t *prev,
                          uint8_t *out, size_t n) noexcept nogil
cdef int png_parse(const uint8_t *data, size_t size, png_header *hdr, size_t max_pixels,
                   char *err, size_t errlen) noexcept nogil
