"""Reproducible recipes for the reference model: CamVid packing and the training scripts.

``pack_camvid``
    Re-encode SegNet CamVid small enough to travel with a checkout (JPEG images,
    PNG labels) for a GPU machine.
``camvid_cpu.sh``, ``camvid_losses.sh``, ``camvid_gpu.sh``
    The exact commands behind the numbers in docs/model.md.
"""
