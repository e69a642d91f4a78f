"""Content-addressed files on disk: raw messages (.eml) and attachments, written once, never changed."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha256: str, suffix: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put(self, data: bytes, suffix: str = "") -> tuple[str, Path]:
        """Store bytes under their SHA-256; a second put of the same bytes writes nothing."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest, suffix)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return digest, target

    def put_file(self, source: Path, suffix: str = "") -> tuple[str, Path]:
        """`put` for a file, read twice in chunks (to hash it, then to copy it): never held whole."""
        digest = hashlib.sha256()
        with source.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        target = self.path(digest.hexdigest(), suffix)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return digest.hexdigest(), target

    def get(self, sha256: str, suffix: str = "") -> bytes:
        return self.path(sha256, suffix).read_bytes()

    def verify(self, sha256: str, suffix: str = "") -> str:
        """"" when the stored file is there and still hashes to its name; else what is wrong with it.
        Read in chunks: a 50 MB message is not held whole."""
        path = self.path(sha256, suffix)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable ({type(exc).__name__})"
        return "" if digest.hexdigest() == sha256 else "changed (its hash no longer matches)"
