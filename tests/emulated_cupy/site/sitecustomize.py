"""Puts emulated CuPy into Python subprocesses of an emulated test run (see tests/emulated_cupy)."""

import os

if os.environ.get("GRADKIT_TEST_EMULATED_CUPY") == "1":
    import emulated_cupy

    emulated_cupy.install()
