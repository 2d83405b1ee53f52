"""The optional compiled core (edge._kernels, see edge/core/kernels.py); everything else is in pyproject.toml.

Built by `pip install .` / `pip install -e .` where a C compiler and the Python headers exist; without them
the extension's build fails quietly (optional=True) and Edge runs its numpy code.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """gcc/clang: warnings on, and no fused multiply-add (the kernels must equal numpy bit for bit)."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-Wall", "-Wextra", "-ffp-contract=off"]
        super().build_extensions()


setup(
    ext_modules=[Extension("edge._kernels", ["edge/_kernels.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
