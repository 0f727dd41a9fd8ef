"""Content-addressed file storage under the data dir.

Uploads are streamed to disk (never held whole in memory), named by their SHA-256 and never modified
afterwards; sliced G-code is cached per (model, profile) so a model is sliced once per printer kind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from printfleet.errors import UserError
from printfleet.texts import N_

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+-]+")


class UploadTooLarge(UserError):
    """The upload exceeds the configured size limit."""

    http_status = 413
    code = "too_large"


def too_large(limit_bytes: int, *, upload: bool = True) -> UploadTooLarge:
    """The error for an upload (or, ``upload=False``, any request body) over ``limit_bytes``."""
    if upload:
        return UploadTooLarge(N_("the upload is larger than the limit of %(limit_mb)s MB"),
                              limit_mb=round(limit_bytes / 1e6))
    return UploadTooLarge(N_("the request is larger than the limit of %(limit_mb)s MB"), limit_mb=round(limit_bytes / 1e6))


@dataclass(frozen=True)
class StoredFile:
    """A file in the store."""

    sha256: str
    path: Path
    size: int


def safe_display_name(name: str, *, max_length: int = 120) -> str:
    """A file name fit for display and for a printer's storage: no path parts or odd characters.

    Raises:
        UserError: nothing usable is left.
    """
    base = re.split(r"[\\/]", name or "")[-1].strip()
    base = _SAFE_NAME.sub("_", base).strip("._ ")
    if not base:
        raise UserError(N_("file name %(file)s: nothing usable is left once path parts and odd characters are "
                           "removed"), code="bad_file_name", file=repr(name))
    if len(base) > max_length:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: max_length - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else base[:max_length]
    return base


class FileStore:
    """Uploads and sliced G-code under ``<data_dir>/files``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "files"
        self.uploads = self.root / "uploads"
        self.sliced = self.root / "sliced"
        self.tmp = self.root / "tmp"
        for path in (self.uploads, self.sliced, self.tmp):
            path.mkdir(parents=True, exist_ok=True)

    def upload_path(self, sha256: str, suffix: str) -> Path:
        """Where the upload with this hash lives."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.uploads / sha256[:2] / f"{sha256}{suffix}"

    def put_stream(self, stream: BinaryIO | Iterable[bytes], *, suffix: str, max_bytes: int) -> StoredFile:
        """Store a stream; the same content stored twice is kept once.

        Raises:
            UploadTooLarge: more than ``max_bytes`` arrived (nothing is kept).
        """
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, suffix=suffix)
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                chunks = iter(lambda: stream.read(CHUNK_BYTES), b"") if hasattr(stream, "read") else stream
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_large(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.upload_path(sha, suffix)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                tmp_path.unlink()
            else:
                tmp_path.chmod(0o444)
                os.replace(tmp_path, final)
            return StoredFile(sha256=sha, path=final, size=size)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def put_file(self, path: Path, *, max_bytes: int = 1 << 40) -> StoredFile:
        """Store a copy of a local file."""
        with path.open("rb") as stream:
            return self.put_stream(stream, suffix=path.suffix.lower(), max_bytes=max_bytes)

    def sliced_path(self, model_sha256: str, profile_sha256: str) -> Path:
        """Where the G-code sliced from this model with this profile is cached."""
        return self.sliced / model_sha256[:2] / f"{model_sha256}-{profile_sha256[:16]}.gcode"

    def new_temp_path(self, suffix: str) -> Path:
        """A fresh path in the store's temp dir (same file system, so it can be moved in atomically)."""
        fd, name = tempfile.mkstemp(dir=self.tmp, suffix=suffix)
        os.close(fd)
        return Path(name)


def read_user_text(path: Path, *, error: type[UserError] = UserError) -> str:
    """A text file a user named (a fleet file, a workload), or one line saying why it cannot be read.

    Raises:
        error: the file is missing or unreadable.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(N_("%(path)s: file not found"), path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(N_("%(path)s: cannot read it (%(problem)s)"), path=str(path), problem=str(exc)) from None


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
