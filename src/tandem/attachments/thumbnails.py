"""Thumbnails of uploaded images: at most 320 px on a side, made once at upload with Pillow.

Only PNG, JPEG, GIF and WebP are decoded, recognised by their first bytes (never by the name or
the type the client claimed), and only when their declared size is within bounds: a small file
that claims a huge canvas (a decompression bomb) is refused before any pixel is decoded.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from PIL import Image, ImageOps

SIZE = 320
# A JPEG is decoded at an eighth of its size (draft), so a large one costs little memory; other
# formats are decoded whole (4 bytes a pixel): 16 Mpx is 64 MB at most, one decode at a time.
MAX_JPEG_PIXELS = 100_000_000
MAX_PIXELS = 16_000_000
# Pillow's own guard, for any decode this module does not foresee: above twice it, open() refuses.
Image.MAX_IMAGE_PIXELS = MAX_JPEG_PIXELS
_one_at_a_time = threading.Lock()

MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
)


def looks_like_image(head: bytes) -> bool:
    """Whether a file's first bytes are one of the image formats thumbnails are made of."""
    if head.startswith(MAGIC):
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def make(path: Path) -> tuple[bytes, str] | None:
    """The thumbnail of the image at `path` and its content type, or None when it is not an image
    Pillow reads, is too large to decode, or is damaged. Blocking: run it in a thread."""
    try:
        with _one_at_a_time, Image.open(path) as opened:
            fmt = opened.format
            if fmt not in ("PNG", "JPEG", "GIF", "WEBP"):
                return None
            width, height = opened.size
            bound = MAX_JPEG_PIXELS if fmt == "JPEG" else MAX_PIXELS
            if width * height > bound or width < 1 or height < 1:
                return None
            if fmt == "JPEG":
                opened.draft("RGB", (SIZE, SIZE))  # decode at a reduced scale: far less memory
            # Upright as the camera meant it (phones store rotation in EXIF rather than pixels).
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((SIZE, SIZE))
            out = io.BytesIO()
            if fmt == "JPEG":
                image.convert("RGB").save(out, "JPEG", quality=85)
                return out.getvalue(), "image/jpeg"
            if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                image = image.convert("RGBA")
            image.save(out, "PNG", optimize=True)
            return out.getvalue(), "image/png"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
