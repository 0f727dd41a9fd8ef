"""Content-addressed storage."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from printfleet.errors import UserError
from printfleet.files import FileStore, UploadTooLarge, safe_display_name


def test_stream_is_stored_once_by_hash_and_read_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = b"solid cube\nendsolid cube\n" * 100_000
    first = store.put_stream(io.BytesIO(data), suffix=".stl", max_bytes=10_000_000)
    second = store.put_stream(io.BytesIO(data), suffix=".stl", max_bytes=10_000_000)
    assert first == second
    assert first.sha256 == hashlib.sha256(data).hexdigest() and first.size == len(data)
    assert first.path.read_bytes() == data
    assert not first.path.stat().st_mode & 0o222
    assert list(store.tmp.iterdir()) == []


def test_too_large_keeps_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(UploadTooLarge, match="larger than the limit"):
        store.put_stream(io.BytesIO(b"x" * 3_000_000), suffix=".stl", max_bytes=2_000_000)
    assert list(store.tmp.iterdir()) == [] and list(store.uploads.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [("../../etc/passwd", "passwd"), ("C:\\Users\\ada\\benchy.stl", "benchy.stl"), ("my part (v2).stl", "my part (v2).stl"),
     ("rm -rf *;.gcode", "rm -rf _.gcode")],
)  # fmt: skip
def test_display_names_lose_path_parts_and_odd_characters(given: str, expected: str) -> None:
    assert safe_display_name(given) == expected


def test_unusable_name_is_refused() -> None:
    with pytest.raises(UserError):
        safe_display_name("../..")
