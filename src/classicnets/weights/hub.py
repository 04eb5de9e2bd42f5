"""Downloading weight files into the torch hub cache, verified.

Files go to ``<torch hub dir>/checkpoints/<file name of the URL>``, the cache torchvision and
``torch.hub.load_state_dict_from_url`` use (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``), so a file either library already downloaded is reused.

A download is written to a temporary file beside the target, its byte count checked against the
server's Content-Length (a connection cut short is retried, then reported), its SHA-256 checked
against the registered one, and only then renamed into place: the cache never holds a partial
or unverified file. A cached file is verified again each time it is used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import torch

from ..errors import WeightsDownloadError, WeightsIntegrityError

__all__ = ["cache_dir", "download", "fetch", "sha256_of"]

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where downloaded weights are kept: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _matches(digest: str, expected: str) -> bool:
    return digest.startswith(expected.lower())


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, name: str, total: int | None, stream: IO[str] | None) -> None:
        self.name, self.total, self.stream = name, total, stream
        self.done = 0
        self._last = 0.0
        self._shown = False

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.stream is not None and (now - self._last > 0.2 or self.done == self.total):
            self._last = now
            mb = self.done / 1e6
            if self.total:
                frac = self.done / self.total
                bar = "#" * int(30 * frac)
                text = f"{mb:.1f}/{self.total / 1e6:.1f} MB [{bar:<30}] {100 * frac:3.0f}%"
            else:
                text = f"{mb:.1f} MB"
            self.stream.write(f"\rdownloading {self.name}: {text}")
            self.stream.flush()
            self._shown = True

    def close(self) -> None:
        if self.stream is not None and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


class _CutShortError(Exception):
    """The body ended before Content-Length bytes arrived."""


def _local_help(dest: Path) -> str:
    return (
        f"Without network access: copy the file to {dest} (the torch hub cache; set the "
        f"TORCH_HOME environment variable to use another cache directory; the file keeps the "
        f"URL's name {dest.name!r}), or load a local copy directly: "
        f"create_model(..., pretrained='path/to/{dest.name}') or "
        f"classicnets.load_weights(model, 'path/to/{dest.name}')."
    )


def _attempt(url: str, tmp: Path, progress: _Progress | None, timeout: float) -> str:
    """Download once into ``tmp``; return the SHA-256. Raises _CutShortError on a short body."""
    request = urllib.request.Request(url, headers={"User-Agent": "classicnets"})
    h = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, tmp.open("wb") as f:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if progress is not None:
            progress.total, progress.done = total, 0
        while chunk := response.read(_CHUNK):
            f.write(chunk)
            h.update(chunk)
            received += len(chunk)
            if progress is not None:
                progress.update(len(chunk))
    if total is not None and received != total:
        raise _CutShortError(f"received {received:,} of {total:,} bytes")
    return h.hexdigest()


def download(
    url: str,
    dest: Path,
    sha256: str,
    *,
    name: str = "",
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest``, verifying its length and SHA-256 (full or prefix)."""
    name = name or dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    bar = _Progress(name, None, sys.stderr if progress else None)
    failures: list[str] = []
    for attempt in range(1, retries + 1):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            digest = _attempt(url, tmp, bar, timeout)
        except (_CutShortError, http.client.HTTPException, OSError) as e:
            # OSError covers resets and timeouts; HTTPException a short chunked body
            tmp.unlink(missing_ok=True)
            if isinstance(e, urllib.error.HTTPError):
                raise WeightsDownloadError(
                    f"could not download {name} from {url}: HTTP {e.code} {e.reason}"
                ) from None
            if isinstance(e, urllib.error.URLError) and not isinstance(
                e.reason, (ConnectionResetError, TimeoutError)
            ):
                raise WeightsDownloadError(
                    f"could not download {name} from {url} ({e.reason}). {_local_help(dest)}"
                ) from None
            failures.append(f"attempt {attempt}: {e}")
            time.sleep(0.2 * attempt)
            continue
        except BaseException:  # interrupted: leave no partial file behind
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if progress:
                bar.close()
        if not _matches(digest, sha256):
            tmp.unlink(missing_ok=True)
            raise WeightsIntegrityError(
                f"{name}: the file downloaded from {url} has SHA-256 {digest}, but the "
                f"registered hash is {sha256}; it is corrupt or not the published file, so it "
                "was deleted and not loaded. Try again later; if it persists, the file at that "
                "URL has changed."
            )
        os.replace(tmp, dest)
        return dest
    raise WeightsDownloadError(
        f"the download of {name} from {url} was cut short {retries} times "
        f"({'; '.join(failures)}); nothing was kept in the cache. Check the connection and "
        f"try again. {_local_help(dest)}"
    )


def fetch(url: str, filename: str, sha256: str, *, name: str = "", progress: bool = True) -> Path:
    """The verified cached file for ``url``, downloading it first if needed.

    A cached file whose hash does not match is reported and replaced by a fresh download.
    """
    dest = cache_dir() / filename
    if dest.is_file():
        if _matches(sha256_of(dest), sha256):
            return dest
        print(
            f"classicnets: cached {dest} does not match the registered SHA-256 {sha256}; "
            "downloading it again",
            file=sys.stderr,
        )
        dest.unlink()
    return download(url, dest, sha256, name=name, progress=progress)
