"""Uploads from the browser or the API: stored content-addressed, checked, estimated, kept as a draft.

A file is streamed into a private incoming area first and moves into the file store only once it has
been read as an STL or G-code, so a rejected upload leaves the store untouched. The draft (who uploaded
what, and its estimate) waits in Redis for a day until the maker confirms it as a job.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import redis

from printfleet.config import FleetConfig
from printfleet.errors import NotFound, UserError
from printfleet.files import FileStore, StoredFile, safe_display_name
from printfleet.models import FileKind
from printfleet.texts import N_
from printfleet.web.estimating import UploadEstimate, estimate_upload, kind_of

logger = logging.getLogger(__name__)

DRAFT_TTL_S = 24 * 3600
_DRAFT_KEY = "printfleet:web:upload:"


class UnsupportedFile(UserError):
    """The upload is not a kind of file printfleet prints."""

    http_status = 415
    code = "unsupported_file"


class UploadNotFound(NotFound):
    """No such upload (or not yours, or it expired)."""

    code = "upload_not_found"


@dataclass(frozen=True)
class Draft:
    """An estimated upload waiting to be confirmed as a job."""

    upload_id: str
    owner_id: int
    file_name: str
    file_kind: FileKind
    file_size: int
    sha256: str
    suffix: str
    estimate: UploadEstimate

    def to_json(self) -> str:
        """As JSON for Redis."""
        data: dict[str, Any] = {**self.__dict__, "file_kind": self.file_kind.value, "estimate": self.estimate.to_dict()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Draft:
        """From :meth:`to_json`."""
        data = json.loads(text)
        data["file_kind"] = FileKind(data["file_kind"])
        data["estimate"] = UploadEstimate.from_dict(data["estimate"])
        return cls(**data)


def check_name(file_name: str | None) -> tuple[str, FileKind]:
    """A safe display name and the kind of file.

    Raises:
        UserError: nothing usable in the name; UnsupportedFile: not .stl or G-code.
    """
    if not file_name:
        raise UnsupportedFile(N_("the upload has no file name; send an .stl or .gcode file"), code="no_file_name")
    name = safe_display_name(file_name)
    kind = kind_of(name)
    if kind is None:
        raise UnsupportedFile(N_("%(file)s: only .stl models and .gcode files can be printed"), file=name)
    return name, kind


def store_upload(
    data_dir: Path, stream: BinaryIO, *, file_name: str, fleet: FleetConfig, max_bytes: int,
    material: str | None = None, colour: str | None = None,
) -> tuple[StoredFile, str, FileKind, UploadEstimate]:
    """Stream an upload in, check and estimate it, then move it into the file store.

    Raises:
        UploadTooLarge: over ``max_bytes``; UserError: a bad name or not a readable STL/G-code (naming the file
        by the name the person gave, never by where it is stored).
    """
    name, kind = check_name(file_name)
    suffix = ".stl" if kind is FileKind.STL else ".gcode"
    incoming = FileStore(data_dir / "incoming")
    staged = incoming.put_stream(stream, suffix=suffix, max_bytes=max_bytes)
    try:
        if staged.size == 0:
            raise UnsupportedFile(N_("file %(file)s is empty"), code="empty_file", file=name)
        try:
            estimate = estimate_upload(staged.path, kind, fleet, material=material, colour=colour)
        except UserError as exc:
            raise exc.for_person(name) from None
        store = FileStore(data_dir)
        final = store.upload_path(staged.sha256, suffix)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            staged.path.unlink(missing_ok=True)
        else:
            os.replace(staged.path, final)
    except BaseException:
        staged.path.unlink(missing_ok=True)
        raise
    return StoredFile(sha256=staged.sha256, path=final, size=staged.size), name, kind, estimate


def save_draft(client: redis.Redis, *, owner_id: int, stored: StoredFile, file_name: str, kind: FileKind,
               estimate: UploadEstimate) -> Draft:
    """Keep an upload for a day under a fresh id."""
    draft = Draft(
        upload_id=secrets.token_urlsafe(12),
        owner_id=owner_id,
        file_name=file_name,
        file_kind=kind,
        file_size=stored.size,
        sha256=stored.sha256,
        suffix=stored.path.suffix,
        estimate=estimate,
    )
    client.set(_DRAFT_KEY + draft.upload_id, draft.to_json(), ex=DRAFT_TTL_S)
    return draft


def load_draft(client: redis.Redis, upload_id: str, owner_id: int) -> Draft:
    """The caller's draft.

    Raises:
        UploadNotFound: unknown, expired, or someone else's.
    """
    raw = client.get(_DRAFT_KEY + upload_id) if upload_id and len(upload_id) <= 64 else None
    draft = Draft.from_json(raw) if raw is not None else None
    if draft is None or draft.owner_id != owner_id:
        raise UploadNotFound(N_("this upload does not exist or has expired; upload the file again"))
    return draft


def forget_draft(client: redis.Redis, upload_id: str) -> None:
    """Drop a draft once it became a job."""
    client.delete(_DRAFT_KEY + upload_id)
