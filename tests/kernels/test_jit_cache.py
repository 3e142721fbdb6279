"""Numba's cache is dropped when any kernel source changes (callees are inlined)."""

from __future__ import annotations

from pathlib import Path

from deadzone.kernels._jit import STAMP_NAME, drop_stale_caches


def test_cache_dropped_when_a_kernel_source_changes(tmp_path: Path) -> None:
    (tmp_path / "_a.py").write_text("x = 1\n")
    (tmp_path / "public.py").write_text("y = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    old = [cache / "_b.f-1.py311.nbi", cache / "_b.f-1.py311.1.nbc"]
    for f in old:
        f.write_bytes(b"stale")
    keep = cache / "_a.cpython-311.pyc"
    keep.write_bytes(b"pyc")
    assert drop_stale_caches(tmp_path)  # no stamp yet: whatever is there is unknown
    assert not any(f.exists() for f in old) and keep.exists()
    assert (cache / STAMP_NAME).exists()
    fresh = cache / "_b.f-1.py311.nbi"
    fresh.write_bytes(b"new")
    assert not drop_stale_caches(tmp_path)  # same sources: the cache stays
    assert fresh.exists()
    (tmp_path / "public.py").write_text("y = 2\n")  # not a kernel source
    assert not drop_stale_caches(tmp_path)
    (tmp_path / "_a.py").write_text("x = 2\n")
    assert drop_stale_caches(tmp_path)
    assert not fresh.exists()
