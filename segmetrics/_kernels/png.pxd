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
