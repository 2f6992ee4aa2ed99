# What the two statistics kernels of ``segmetrics validate`` share
# (``from segmetrics._kernels.segstats cimport ...``): opening a PNG into a folder-kernel
# Scratch buffer, and its header as a dict.  The kernels themselves:
#   segstats_semantic  label histograms and prediction-reading agreement (label PNGs)
#   segstats_panoptic  area and box of every segment id (panoptic PNGs), listed vs PNG
# Rows are unfiltered by ``folder.unfilter`` and walked by the engine's row walker
# (``sm_walk.h``): no counting loop of their own.  No module of this name exists.
from libc.stdint cimport uint8_t
from libc.string cimport memcpy

from segmetrics._kernels.folder cimport Scratch
from segmetrics._kernels.png cimport png_header, png_inflate, png_read_header


cdef inline const uint8_t *data_ptr(const uint8_t[::1] data) noexcept nogil:
    return &data[0] if data.shape[0] else NULL


cdef inline int open_png(Scratch s, int i, const uint8_t *data, size_t size, png_header *hdr) noexcept nogil:
    """Parse a file and inflate it into buffer i of ``s`` (rows still filtered, with the
    buffer's readable slack after them): 0 done; 1 leave it to the Python decoder
    (interlaced, sub-byte samples, or an inflate error it words precisely); -1 corrupt
    (``s.err`` says why)."""
    cdef int status
    if data == NULL:
        memcpy(s.err, b"empty file", 11)
        return -1
    status = png_read_header(data, size, hdr, s.err, sizeof(s.err))
    if status != 0:
        return status
    if s.grow(i, hdr.raw_bytes) == NULL:
        memcpy(s.err, b"out of memory", 14)
        return -1
    if png_inflate(data, size, hdr, s.buf[i], hdr.raw_bytes, s.err, sizeof(s.err)) != 0:
        return 1
    return 0


cdef inline dict header_dict(const png_header *hdr):
    return {"width": hdr.width, "height": hdr.height, "bit_depth": hdr.bit_depth, "color_type": hdr.color_type}
