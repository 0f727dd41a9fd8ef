"""A preview image of an STL, rendered on the server with Pillow: flat-shaded, isometric, cached by hash."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

SIZE_PX = 480
MAX_TRIANGLES = 40_000
_BACKGROUND = (244, 246, 248)
_BASE = np.array([64, 132, 214], dtype=np.float64)


def render_png(vectors: np.ndarray, size_px: int = SIZE_PX) -> bytes:
    """A PNG of the triangles seen from the front-right, above (painter's algorithm, Lambert shading)."""
    tri = np.asarray(vectors, dtype=np.float64)
    if len(tri) > MAX_TRIANGLES:  # keep the largest faces; small ones do not show at this size
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        keep = np.argsort(np.einsum("ij,ij->i", cross, cross))[-MAX_TRIANGLES:]
        tri = tri[keep]
    tri = tri - (tri.reshape(-1, 3).min(axis=0) + tri.reshape(-1, 3).max(axis=0)) / 2
    yaw, pitch = np.radians(-35.0), np.radians(30.0)
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    # view: x right, z up on screen, y into the screen
    view = tri @ rz.T @ rx.T
    normals = np.cross(view[:, 1] - view[:, 0], view[:, 2] - view[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    ok = lengths > 1e-12
    view, normals, lengths = view[ok], normals[ok], lengths[ok]
    normals /= lengths[:, None]
    light = np.array([-0.4, -0.7, 0.6])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.abs(normals @ light)
    depth = view[:, :, 1].mean(axis=1)
    order = np.argsort(-depth)  # far first
    pts = view[:, :, [0, 2]]
    span = float(np.ptp(pts.reshape(-1, 2), axis=0).max()) if len(pts) else 1.0
    scale = (size_px * 0.86) / max(span, 1e-9)
    screen = np.empty_like(pts)
    screen[:, :, 0] = size_px / 2 + pts[:, :, 0] * scale
    screen[:, :, 1] = size_px / 2 - pts[:, :, 1] * scale
    image = Image.new("RGB", (size_px, size_px), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    colours = np.clip(_BASE[None, :] * shade[:, None] + 40 * shade[:, None], 0, 255).astype(int)
    for i in order:
        s = screen[i]
        draw.polygon([(s[0, 0], s[0, 1]), (s[1, 0], s[1, 1]), (s[2, 0], s[2, 1])], fill=tuple(colours[i]))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def preview_path(data_dir: Path, sha256: str) -> Path:
    """Where the preview of the upload with this hash is cached."""
    return data_dir / "previews" / sha256[:2] / f"{sha256}.png"


def ensure_preview(data_dir: Path, sha256: str, stl_path: Path) -> Path | None:
    """Render the preview once; ``None`` when the file cannot be read as an STL."""
    target = preview_path(data_dir, sha256)
    if target.exists():
        return target
    from printfleet.estimate.mesh import load_triangles

    try:
        png = render_png(load_triangles(stl_path))
    except Exception as exc:  # noqa: BLE001 - a page without a preview is better than none
        logger.warning("no preview for %s: %s", sha256[:12], exc)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(png)
    tmp.replace(target)
    return target
