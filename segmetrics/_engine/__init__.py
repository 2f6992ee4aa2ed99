"""Internals of the folder engine (:mod:`segmetrics._pipeline` is its entry point).

``schedule``  the one scheduler: worker threads, a shared atomic image counter,
              progress, first error in input order
``image``     per-image panoptic scoring on the compiled rules (the array API and
              the folder images the fused kernels leave to Python)
``columns``   the segment columns of a panoptic run, flattened for the fused kernels
"""
