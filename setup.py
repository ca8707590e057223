"""Build of the optional C extension shoal._md5x (multi-buffer MD5); everything else is in
pyproject.toml. The extension is optional: without a C compiler Shoal still installs and uses
hashlib for MD5."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "shoal._md5x",
            ["src/shoal/_md5x.c"],
            optional=True,
            extra_compile_args=["-O3"],
        )
    ]
)
