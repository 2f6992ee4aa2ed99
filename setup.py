"""Build the Cython kernels.

Every ``segmetrics/_kernels/*.pyx`` becomes an extension module.  Extra link
libraries for a module go in ``EXTRA_LIBRARIES``.
"""
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
EXTRA_LIBRARIES: dict[str, list[str]] = {"png": ["z"]}

extensions = []
for pyx in sorted((HERE / "segmetrics" / "_kernels").glob("*.pyx")):
    name = "segmetrics._kernels." + pyx.stem
    extensions.append(
        Extension(
            name,
            [str(pyx.relative_to(HERE))],
            include_dirs=[np.get_include(), str(HERE / "segmetrics" / "_kernels")],
            libraries=EXTRA_LIBRARIES.get(pyx.stem, []),
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"],
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
