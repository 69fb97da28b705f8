"""Which libcublas gradkit's capture-safe GEMM loads, tested on the CPU with fake paths.

It must be the copy CuPy uses: cuda-pathfinder's answer first (CuPy >= 14 loads its CUDA libraries
with it), then the mapped files of the process, keeping only the cuBLAS of CuPy's CUDA major
version (PyTorch built for CUDA 12 maps its own libcublas.so.12, possibly at a lower address than
CuPy's libcublas.so.13).
"""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest

import gradkit as gk
from gradkit.cuda import cublas as G

CU12 = "/env/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12"
CU13 = "/env/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13"
LT13 = "/env/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13"


def _maps(*paths):
    return "\n".join(
        f"7f{i:02x}0000-7f{i:02x}1000 r-xp 00000000 08:01 {100 + i}                    {p}"
        for i, p in enumerate(paths)
    ) + "\n7fff0000-7fff1000 rw-p 00000000 00:00 0 \n7ffe0000-7ffe1000 r--p 00000000 00:00 0    [vdso]\n"


@pytest.mark.parametrize(
    ("path", "major"),
    [
        (CU13, 13),
        (CU12, 12),
        ("/usr/local/cuda-12.4/lib64/libcublas.so.12.4.5.8", 12),
        ("libcublas.so.11", 11),
        ("/usr/lib/libcublas.so", None),
        (LT13, None),
        ("/usr/lib/libc.so.6", None),
        ("cublas64_13.dll", 13),
    ],
)
def test_cublas_major(path, major):
    assert G.cublas_major(path) == major


def test_every_mapped_cublas_is_listed_once_in_file_order():
    text = _maps(CU12, LT13, CU13, CU13, "/usr/lib/libc.so.6")
    assert G.cublas_paths_from_maps(text) == [CU12, CU13]
    assert G.cublas_path_from_maps(text) == CU12  # the first one, as before
    assert G.cublas_paths_from_maps("") == []


def test_pathfinder_is_preferred_when_its_version_fits():
    cands = [("pathfinder", CU13), ("/proc/self/maps", CU12)]
    assert G.select_cublas(cands, 13) == CU13


def test_a_pathfinder_abs_path_of_none_is_skipped():
    cands = [("pathfinder (abs_path is None)", None), ("/proc/self/maps", CU13)]
    assert G.select_cublas(cands, 13) == CU13


def test_torchs_cublas_at_a_lower_address_is_not_taken():
    """Address order is not load order: PyTorch's libcublas.so.12 may come first in /proc/self/maps."""
    cands = [("pathfinder", CU12)] + [("/proc/self/maps", p) for p in G.cublas_paths_from_maps(_maps(CU12, CU13))]
    assert G.select_cublas(cands, 13) == CU13
    assert G.select_cublas(cands, 12) == CU12


def test_unknown_cuda_version_takes_the_first_cublas():
    assert G.select_cublas([("a", None), ("b", LT13), ("c", CU12), ("d", CU13)], None) == CU12


def test_an_unversioned_name_is_a_last_resort():
    cands = [("find_library", "/usr/lib/libcublas.so"), ("maps", CU12), ("dlopen", CU13)]
    assert G.select_cublas(cands, 13) == CU13
    assert G.select_cublas(cands[:2], 13) == "/usr/lib/libcublas.so"


def test_candidates_are_consumed_lazily():
    seen = []

    def gen():
        for c in [("pathfinder", CU13), ("later lookup", CU13)]:
            seen.append(c[0])
            yield c

    assert G.select_cublas(gen(), 13) == CU13
    assert seen == ["pathfinder"]


def test_nothing_that_fits_is_a_clear_gradkit_error():
    cands = [("cuda.pathfinder (abs_path is None)", None), ("/proc/self/maps", CU12), ("maps", LT13)]
    with pytest.raises(gk.BackendError) as info:
        G.select_cublas(cands, 13)
    msg = str(info.value)
    assert "libcublas.so.13" in msg and "abs_path is None" in msg
    assert f"{CU12} (cuBLAS 12, but CuPy uses CUDA 13)" in msg
    assert "not the cuBLAS library" in msg
    with pytest.raises(gk.BackendError, match="Tried: nothing"):
        G.select_cublas([], 12)


def test_a_missing_path_is_refused_before_ctypes_opens_the_main_program():
    with pytest.raises(gk.BackendError, match="no cuBLAS library path"):
        G._Lib(None)


# ------------------------------------------------------------------ the lookup, with its sources faked
def _fake_pathfinder(monkeypatch, abs_path=None, error=None):
    cuda = ModuleType("cuda")
    pf = ModuleType("cuda.pathfinder")

    def load_nvidia_dynamic_lib(name):
        assert name == "cublas"
        if error is not None:
            raise error
        return SimpleNamespace(abs_path=abs_path, was_already_loaded_from_elsewhere=True, found_via="system")

    pf.load_nvidia_dynamic_lib = load_nvidia_dynamic_lib
    cuda.pathfinder = pf
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.pathfinder", pf)


@pytest.fixture
def sources(monkeypatch):
    """Fake every source _find_cublas reads; returns a namespace to set the answers on."""
    s = SimpleNamespace(maps=_maps(), major=13, loadable=set(), find_library={})
    monkeypatch.setattr(G, "_maps_text", lambda: s.maps)
    monkeypatch.setattr(G, "_cuda_major", lambda: s.major)
    monkeypatch.setattr(G, "_loadable", lambda name: name in s.loadable)
    monkeypatch.setattr(G.ctypes.util, "find_library", lambda name: s.find_library.get(name))
    monkeypatch.setitem(sys.modules, "cupy_backends.cuda.libs.cublas", ModuleType("fake"))
    return s


def test_find_cublas_uses_pathfinders_answer(monkeypatch, sources):
    _fake_pathfinder(monkeypatch, abs_path=CU13)
    sources.maps = _maps(CU12, CU13)
    assert G._find_cublas() == CU13


def test_find_cublas_falls_back_to_maps_when_abs_path_is_none(monkeypatch, sources):
    _fake_pathfinder(monkeypatch, abs_path=None)
    sources.maps = _maps(CU12, LT13, CU13)
    assert G._find_cublas() == CU13


def test_find_cublas_skips_pathfinders_answer_of_the_wrong_version(monkeypatch, sources):
    """pathfinder returns an already-loaded libcublas.so.12 (PyTorch's) when CuPy's 13 is not loaded yet."""
    _fake_pathfinder(monkeypatch, abs_path=CU12)
    sources.maps = _maps(CU12, CU13)
    assert G._find_cublas() == CU13


def test_find_cublas_falls_back_to_the_soname_of_cupys_version(monkeypatch, sources):
    _fake_pathfinder(monkeypatch, error=RuntimeError("not found"))
    sources.maps = _maps(CU12)
    sources.find_library = {"cublas": "libcublas.so.12"}
    sources.loadable = {"libcublas.so.12", "libcublas.so.13"}
    assert G._find_cublas() == "libcublas.so.13"


def test_find_cublas_reports_everything_it_tried(monkeypatch, sources):
    _fake_pathfinder(monkeypatch, abs_path=None)
    sources.maps = _maps(CU12)
    sources.loadable = {"libcublas.so.12"}
    with pytest.raises(gk.BackendError) as info:
        G._find_cublas()
    msg = str(info.value)
    for part in ("abs_path is None", CU12, "cuBLAS 12, but CuPy uses CUDA 13", "dlopen('libcublas.so.13')",
                 "find_library('cublas')"):
        assert part in msg, (part, msg)


def test_find_cublas_survives_an_unreadable_maps_file(monkeypatch, sources):
    _fake_pathfinder(monkeypatch, abs_path=None)

    def no_maps():
        raise OSError("no /proc here")

    monkeypatch.setattr(G, "_maps_text", no_maps)
    sources.loadable = {"libcublas.so.13"}
    assert G._find_cublas() == "libcublas.so.13"


def test_cuda_major_comes_from_cupys_runtime():
    """On this machine CuPy may be installed without a GPU: its runtime version needs no device."""
    major = G._cuda_major()
    assert major is None or major >= 11


def test_a_loaded_library_of_the_wrong_major_version_is_refused(monkeypatch):
    class FakeLib:
        path = CU12

        def __init__(self, path):
            pass

        def major_version(self):
            return 12

    monkeypatch.setattr(G, "_Lib", FakeLib)
    monkeypatch.setattr(G, "_find_cublas", lambda: CU12)
    monkeypatch.setattr(G, "_cuda_major", lambda: 13)
    with pytest.raises(gk.BackendError, match="is cuBLAS 12, but CuPy uses CUDA 13"):
        G._load_library()
    monkeypatch.setattr(G, "_cuda_major", lambda: 12)
    assert isinstance(G._load_library(), FakeLib)
