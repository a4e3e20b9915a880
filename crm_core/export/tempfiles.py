"""Temporary files of an export: beside the workbook, owner-only, swept when stale.

A workbook is written as ``.<name>.crmbook-<pid>-<token>.part`` beside its target and
renamed over it when complete; xlsxwriter's own temporary files (a sheet's rows while
they stream, the XML parts at the end) go in ``.<name>.crmbook-<pid>-<token>.tmp``
beside it too (not in the system's shared temporary folder). Both are readable by their
owner only while they hold contact data: the file 0600, the folder 0700. The finished
workbook gets the permissions any new file gets (0666 less the umask).

A killed export cannot remove them, so every export first removes the leftovers in its
folder: names of that pattern whose process is gone, or that nothing has written to for
:data:`STALE_AFTER` (the pid may have been reused, or the folder shared between
machines). A target that is a file object (a download) gets its temporary folder in the
system's temporary folder, named ``crmbook-xlsx-<pid>-<token>``, swept the same way.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Seconds after which a leftover nobody writes to is removed even if its pid lives.
STALE_AFTER = 3600.0

_BESIDE = re.compile(r"^\..+\.crmbook-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})\.(?:part|tmp)$")
# Written by crmbook before the pid was in the name: removed by age only.
_LEGACY_PART = re.compile(r"^\..+\.[0-9a-f]{8}\.part$")
_SHARED = re.compile(r"^crmbook-xlsx-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})$")
_LEGACY_SHARED = re.compile(r"^crmbook-xlsx-[0-9a-z_]{8}$")


@dataclass
class Scratch:
    """Where one export writes: ``part`` (the workbook until renamed, or None for a
    file-object target) and ``folder`` (xlsxwriter's temporary files)."""

    part: Path | None
    folder: Path

    def remove(self) -> None:
        """Delete both, whatever is left of them."""
        if self.part is not None:
            self.part.unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def target_problem(target: str | os.PathLike[str]) -> str | None:
    """Why a workbook cannot be written to the path ``target``, in words (None when it
    can be tried): an empty path, a folder, a folder that does not exist or is not a
    folder, a file name that does not end in ``.xlsx`` (an Excel workbook named
    ``out.csv`` would be opened as text, and a spreadsheet program refuses an
    ``.xls`` or ``.xlsm`` that holds one). Checked before anything is written (see
    :func:`beside`)."""
    text = os.fspath(target)
    if isinstance(text, bytes):  # pragma: no cover - a bytes path
        text = os.fsdecode(text)
    if not text.strip():
        return "the path is empty; give a file name such as report.xlsx"
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        return "is a folder; give a file name in it, such as report.xlsx"
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.exists(folder):
        return f"the folder {folder} does not exist"
    if not os.path.isdir(folder):
        return f"{folder} is not a folder"
    if os.path.exists(text) and not os.path.isfile(text):
        return "is not a regular file"
    if not os.path.basename(text).lower().endswith(".xlsx") or os.path.basename(text) == ".xlsx":
        return "is not a workbook's file name: it must end in .xlsx, such as report.xlsx"
    return None


def beside(target: str | os.PathLike[str]) -> Scratch:
    """Create the owner-only part file and temporary folder for writing ``target``,
    after removing the stale leftovers of earlier exports in its folder.

    A path that cannot be a workbook (:func:`target_problem`) raises ValueError saying
    why, before anything is created."""
    problem = target_problem(target)
    if problem is not None:
        raise ValueError(problem)
    final = Path(os.path.abspath(os.fspath(target)))
    sweep(final.parent)
    stem = f".{final.name}.crmbook-{os.getpid()}-{secrets.token_hex(4)}"
    part = final.with_name(stem + ".part")
    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    folder = final.with_name(stem + ".tmp")
    try:
        os.mkdir(folder, 0o700)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Scratch(part, folder)


def shared() -> Scratch:
    """An owner-only temporary folder in the system's temporary folder (for a target
    that is a file object), after removing stale ones of earlier exports."""
    root = Path(tempfile.gettempdir())
    sweep(root)
    folder = root / f"crmbook-xlsx-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(folder, 0o700)
    return Scratch(None, folder)


def publish(part: Path, final: str | os.PathLike[str]) -> None:
    """Give the finished ``part`` a new file's usual permissions and rename it over
    ``final`` (atomic: readers see the old workbook or the new one)."""
    os.chmod(part, 0o666 & ~umask())
    os.replace(part, final)


def sweep(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the leftovers of killed exports in ``folder`` (see the module doc);
    return what was removed. Never fails: what cannot be removed stays."""
    now = time.time() if now is None else now
    groups: dict[str, list[Path]] = {}
    alive: dict[str, bool] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        match = _BESIDE.match(entry.name) or _SHARED.match(entry.name)
        if match is not None:
            key = f"{match['pid']}-{match['token']}"
            alive[key] = _alive(int(match["pid"]))
        elif _LEGACY_PART.match(entry.name) or _LEGACY_SHARED.match(entry.name):
            key = entry.name
            alive[key] = True  # unknown: by age only
        else:
            continue
        groups.setdefault(key, []).append(Path(entry.path))
    removed: list[Path] = []
    for key, paths in groups.items():
        if alive[key] and now - _newest(paths) <= STALE_AFTER:
            continue
        for path in paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    path.unlink()
                except OSError:
                    continue
            removed.append(path)
    return removed


def umask() -> int:
    """The process's umask, read without changing it where the system tells it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere the only way to read it is to set it (briefly) and put it back.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: age decides
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return True
    return True


def _newest(paths: list[Path]) -> float:
    """The last time anything in ``paths`` (a folder's files included) was written."""
    newest = 0.0
    for path in paths:
        for item in _walk(path):
            try:
                newest = max(newest, item.lstat().st_mtime)
            except OSError:
                continue
    return newest


def _walk(path: Path) -> Iterator[Path]:
    yield path
    if path.is_dir() and not path.is_symlink():
        try:
            yield from path.iterdir()
        except OSError:
            return
