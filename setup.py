"""Build the Cython kernels.

Every ``segmetrics/_kernels/*.pyx`` becomes an extension module.  Extra link
libraries for a module go in ``EXTRA_LIBRARIES``.  The C headers and ``.pxd``
files beside them are dependencies of every module (a changed header rebuilds
them), and source distributions carry them and the ``.pyx`` files (cythonize
replaces an extension's sources by the generated C).
"""
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
EXTRA_LIBRARIES: dict[str, list[str]] = {"png": ["z"]}

KERNELS = HERE / "segmetrics" / "_kernels"
DEPENDS = sorted(str(p.relative_to(HERE)) for p in (*KERNELS.glob("*.h"), *KERNELS.glob("*.pxd")))

extensions = []
for pyx in sorted(KERNELS.glob("*.pyx")):
    name = "segmetrics._kernels." + pyx.stem
    extensions.append(
        Extension(
            name,
            [str(pyx.relative_to(HERE))],
            include_dirs=[np.get_include(), str(KERNELS)],
            depends=DEPENDS + [str(pyx.relative_to(HERE))],  # (the .pyx too: source distributions carry it)
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
