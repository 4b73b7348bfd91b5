"""What may be read from the landing zone, and a word about everything else in it.

Only regular files inside a source's folder, with one of the source's suffixes, are loaded. Nothing
else is read, and nothing is passed over in silence: symbolic links (which could point anywhere on
the machine) and special files are refused, hidden files, files of another type and folders that no
source owns are reported, each as a `LandingNotice` naming the path and why. A landing folder that
does not exist is an error; a missing source folder is a notice or an error as
CDP_MISSING_SOURCE_FOLDER says.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cdp.ingest.contract import LandingContract, SourceSpec


class LandingZoneError(RuntimeError):
    """The landing zone cannot be read as configured; the message says what to fix."""


@dataclass(frozen=True)
class LandingNotice:
    path: str
    reason: str


def _special(path: Path) -> str | None:
    """Why `path` (not followed if a link) is not a regular file, or None when it is one."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"a symbolic link (to {os.readlink(path)}); only regular files inside the landing folder are read"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) else "not a regular file")
    return f"{kind}; only regular files are read"


def require_landing_dir(landing_dir: Path) -> None:
    if not landing_dir.is_dir():
        raise LandingZoneError(f"the landing folder {landing_dir} does not exist (or is not a folder); "
                               "set CDP_LANDING_DIR to the folder that holds events/, crm_contacts/, ...")


def scan_source(landing_dir: Path, spec: SourceSpec, missing_folder: str = "warn"
                ) -> tuple[list[Path], list[LandingNotice]]:
    """The files of one source to load, in order, and notices about everything else in its folder."""
    require_landing_dir(landing_dir)
    folder = landing_dir / spec.folder
    if folder.is_symlink():
        return [], [LandingNotice(str(folder), f"the source folder is a symbolic link (to {os.readlink(folder)}); "
                                               "it is not followed")]
    if not folder.exists():
        message = (f"the source folder {spec.folder}/ does not exist in {landing_dir}; no {spec.name} files "
                   "were loaded")
        if missing_folder == "error":
            raise LandingZoneError(message + " (CDP_MISSING_SOURCE_FOLDER=error)")
        return [], [LandingNotice(str(folder), message)]
    files: list[Path] = []
    notices: list[LandingNotice] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in sorted(dirs):
            path = base / name
            why = _special(path)
            if why or name.startswith("."):
                notices.append(LandingNotice(str(path), why or "a hidden folder; not read"))
                dirs.remove(name)
        for name in names:
            path = base / name
            why = _special(path)
            if why:
                notices.append(LandingNotice(str(path), why))
            elif name.startswith("."):
                notices.append(LandingNotice(str(path), "a hidden file; not read"))
            elif not name.lower().endswith(spec.suffixes):
                notices.append(LandingNotice(
                    str(path), f"not a {spec.name} file (expected a name ending in {', '.join(spec.suffixes)})"))
            else:
                files.append(path)
    return sorted(files), sorted(notices, key=lambda n: n.path)


def scan_root(landing_dir: Path, contract: LandingContract) -> list[LandingNotice]:
    """Notices about entries at the top of the landing zone that no source owns."""
    require_landing_dir(landing_dir)
    owned = {spec.folder for spec in contract.sources.values()}
    notices = []
    for entry in sorted(landing_dir.iterdir()):
        if entry.name in owned:
            continue
        why = _special(entry)
        if why is None:
            kind = "folder" if entry.is_dir() else "file"
            why = (f"a {kind} no landing source owns (sources: {', '.join(sorted(owned))}); not read")
        notices.append(LandingNotice(str(entry), why))
    return notices
