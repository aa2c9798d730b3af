"""Downloading data set files over HTTP into a folder, for :mod:`fnn.datasets` (private).

Notes: none (plumbing). A file is streamed to a temporary ``.<name>.<random>.part``
file beside its destination (:func:`fnn._io.atomic_write`), its MD5 computed on
the way, and renamed into place only when the digest is the expected one.

Private helpers: callers (``fnn.datasets``) validate their arguments.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import time
import urllib.error
import urllib.request

from typing import Any, Callable, Mapping, Sequence

from fnn._io import atomic_write, unlink_quietly

ENV_MIRRORS = "FNN_DATA_MIRRORS"
#: Seconds a connection or a read may stall before the download is abandoned.
TIMEOUT_S = 30.0
PART_SUFFIX = ".part"
# When this module was imported: no download of this process started before it.
_IMPORTED_AT = time.time()


class NetworkError(Exception):
    """The server could not be read (no file was left behind)."""


def fetch(url: str, dest: pathlib.Path, md5: str, progress: bool) -> pathlib.Path:
    """Stream ``url`` to a temporary file beside ``dest``; check MD5; rename into place.

    Raises ``NetworkError`` when the server cannot be read and ``ValueError``
    on a checksum mismatch; in both cases no file is left behind.
    """
    digest = hashlib.md5(usedforsecurity=False)
    bar = None
    try:
        with atomic_write(dest, suffix=PART_SUFFIX) as f:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "fnn"})
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    total = response.headers.get("Content-Length")
                    bar = _progress_bar(progress, total, dest.name)
                    while chunk := response.read(1 << 20):
                        f.write(chunk)
                        digest.update(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            except (urllib.error.URLError, OSError, ValueError) as err:
                raise NetworkError(f"{url}: {err}") from err
            if digest.hexdigest() != md5:
                raise ValueError(
                    f"checksum mismatch for {dest.name} downloaded from {url}: "
                    f"expected md5 {md5}, got {digest.hexdigest()}; the download was discarded"
                )
        return dest
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(progress: bool, total: str | None, desc: str):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(f"fnn.data: downloading {desc}", file=sys.stderr)
        return None
    return tqdm(
        total=int(total) if total and total.isdigit() else None,
        unit="B",
        unit_scale=True,
        desc=desc,
        leave=False,
    )


def remove_stale_parts(folder: pathlib.Path, filenames: list[str]) -> list[pathlib.Path]:
    """Remove the ``.part`` files a killed download of one of ``filenames`` left in ``folder``.

    Only fnn's own naming (``.<filename>.<random>.part``, from :func:`fetch`)
    and only files that are stale: last written before this process imported
    fnn's downloader *and* more than ``2 * TIMEOUT_S`` ago. A live download in
    another process writes at least every ``TIMEOUT_S`` seconds (or gives up),
    so it is never removed. Returns the paths removed.

    (A general cleaner of fnn's temporaries is planned in ``fnn._io``; this one
    covers downloads until then.)
    """
    limit = min(_IMPORTED_AT, time.time() - 2 * TIMEOUT_S)
    removed = []
    for name in filenames:
        for p in folder.glob(f".{name}.*{PART_SUFFIX}"):
            try:
                if p.is_file() and os.stat(p).st_mtime < limit:
                    unlink_quietly(p)
                    removed.append(p)
            except OSError:  # vanished or unreadable: not ours to fight over
                continue
    return removed


def base_urls(name: str, mirrors: Sequence[str] | str | None, defaults: Sequence[str]) -> tuple[str, ...]:
    """Base URLs to try: ``mirrors``, else ``$FNN_DATA_MIRRORS``, else ``defaults`` (``{name}`` filled in)."""
    if mirrors is None:
        env = os.environ.get(ENV_MIRRORS)
        mirrors = env if env else defaults
    if isinstance(mirrors, str):
        mirrors = mirrors.replace(",", " ").split()
    out = tuple(str(m).replace("{name}", name) for m in mirrors)
    if not out:
        raise ValueError(f"mirrors must name at least one base URL, got {mirrors!r}")
    return out


def _urls(source: Any, bases: Sequence[str]) -> tuple[str, ...]:
    if source.urls:
        return tuple(source.urls)
    return tuple(m if m.endswith(source.filename) else m.rstrip("/") + "/" + source.filename for m in bases)


def into_folder(
    name: str, dest: pathlib.Path, bases: Sequence[str], sources: Mapping[str, Any], progress: bool,
    find: Callable, check: Callable,
) -> dict[str, pathlib.Path]:
    """Fetch the files of ``sources`` missing from ``dest`` (``find(dest, source)``); ``check`` each file.

    Folders this call created are removed again if it fails before a file arrived.
    """
    created = [p for p in (dest, *dest.parents) if not p.exists()]
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _into(name, dest, bases, sources, progress, find, check)
    except BaseException:
        for folder in created:  # leave no trace of a download that fetched nothing
            if any(folder.iterdir()):
                break
            folder.rmdir()
        raise


def _into(name, dest, bases, sources, progress, find, check) -> dict[str, pathlib.Path]:
    remove_stale_parts(dest, [s.filename for s in sources.values()])
    paths: dict[str, pathlib.Path] = {}
    for key, source in sources.items():
        existing = find(dest, source)
        if existing is not None:
            check(existing, source, key)
            paths[key] = existing
            continue
        errors: list[str] = []
        mismatch = None
        for url in _urls(source, bases):
            try:
                paths[key] = fetch(url, dest / source.filename, source.md5, progress)
                break
            except NetworkError as err:
                errors.append(str(err))
            except ValueError as err:
                errors.append(str(err))
                mismatch = err
        else:
            tried = "\n  ".join(errors)
            if mismatch is not None:
                raise ValueError(f"{name}: could not download a valid {source.filename}:\n  {tried}")
            raise FileNotFoundError(f"{name}: could not download {source.filename}:\n  {tried}")
        check(paths[key], source, key)
    return paths
