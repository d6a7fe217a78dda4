"""The run folder of `specc train`: what it holds, whether it can be used, the history, the curves.

    runs/<spec name>/
      spec.resolved.yaml   the fully resolved spec, headed by its sha256 (written first)
      history.json         per-epoch lists keyed like Keras's History, plus `epochs` (and `phase`, the phase each
                           ran in, for train.phases); rewritten after every epoch
      backup/              BackupAndRestore's state while training (removed once the run is finished); with
                           train.phases, one phase-N/ folder per phase, and the phase running (specc.run.phases)
      model.keras          the trained model (written when fit ends)
      curves.png           loss and each metric per epoch, training and validation
      labels.json          what each class index stands for, where the source names its classes (a CSV's
                           text labels, image folders): {"source": PATH, "classes": [...]}, index = position
      metrics.json         the evaluation on the test split (written last: it marks a finished run)
      .specc.lock          held by the run that uses the folder, for as long as it runs (removed when it ends)

Every file is written atomically (`specc.atomic`), so a killed run leaves
each file whole or absent, and `--resume` continues from the last completed
epoch. Nothing here imports Keras; the curves use matplotlib's Agg backend.

A run claims its folder before it reads any data or writes anything
(`claim_run_dir`, `claim_default_run_dir`): the folder is made if absent, then
the run takes an exclusive `flock` on `.specc.lock` in it and keeps it until
the run ends. A second run into a folder in use is refused; two runs started
together without --out take two folders (runs/NAME, runs/NAME-2). The OS lets
go of the lock when the process ends, however it ends, so a killed run's
folder is free at once: its `.specc.lock` stays behind, unlocked, and counts
for nothing (not a run's file, nor a file that is not a run's), and --resume
continues the run. The lock file is the one file written in place (a lock
follows the file, which a rename would replace). A finished run's folder holds
no lock file. Without `fcntl` (Windows) the folder is not locked.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

try:
    import fcntl
except ImportError:  # Windows: folders are claimed without a lock
    fcntl = None

from specc.atomic import atomic_path, is_temporary, remove_temporaries, write_text

RESOLVED = "spec.resolved.yaml"
HISTORY = "history.json"
MODEL = "model.keras"
CURVES = "curves.png"
METRICS = "metrics.json"
LABELS = "labels.json"  # only for sources that name their classes
BACKUP = "backup"
OWN_FILES = (RESOLVED, HISTORY, MODEL, CURVES, LABELS, METRICS)  # callbacks may not write over these
LOCK = ".specc.lock"  # not a run's file: only its lock counts, held while a run uses the folder

NEW, RESUME = "new", "resume"
PHASE = "phase"  # the history's per-epoch phase names, for specs with train.phases


class RunFolderError(Exception):
    """The run folder cannot be used as asked: it holds a run already, or the spec changed. A usage error."""


class FolderInUse(RunFolderError):
    """Another process holds the run folder's lock: a run is using it now."""


def default_run_dir(spec_name: str, resume: bool = False) -> Path:
    """Where a run goes without --out: runs/NAME, then runs/NAME-2, runs/NAME-3, ... for later runs.

    A new run takes the first free folder (absent, or holding nothing but a lock file), so
    training again never needs a folder chosen by hand and never touches an earlier run; with
    `resume`, the newest folder that holds an unfinished run. This only looks:
    `claim_default_run_dir` is the choice that holds when several runs start at once.
    """
    used = []
    for folder in _numbered(spec_name):
        if _looks_free(folder):
            break
        used.append(folder)
    if not resume:
        return folder
    unfinished = [f for f in used if (f / RESOLVED).is_file() and not (f / METRICS).is_file()]
    if not unfinished:
        raise RunFolderError(f"no unfinished run of {spec_name} under runs/ to resume (name its folder with --out DIR)")
    return unfinished[-1]


def _numbered(spec_name: str) -> Iterator[Path]:
    number = 1
    while True:
        yield Path("runs") / (spec_name if number == 1 else f"{spec_name}-{number}")
        number += 1


def _looks_free(folder: Path) -> bool:
    if not os.path.lexists(folder):
        return True
    try:
        return folder.is_dir() and not _entries(folder)
    except OSError:  # unreadable: not ours to use
        return False


def _entries(folder: Path) -> list[Path]:
    """What the folder holds, its lock file and the temporary files of writes a kill cut short aside
    (`specc.atomic`: a run killed while it wrote its first file leaves nothing else, and is no stranger's)."""
    return [entry for entry in folder.iterdir() if entry.name != LOCK and not is_temporary(entry.name)]


# -- claiming a folder -----------------------------------------------------------------


class Claim:
    """A run folder held by this process, from `claim_run_dir` until `release`: an exclusive flock on its LOCK.

    `state` is NEW or RESUME (as `check_run_dir` says); `made` is whether this claim created the folder.
    """

    def __init__(self, run_dir: Path, fd: int | None, made: bool, state: str = NEW):
        self.dir, self.made, self.state = run_dir, made, state
        self._fd = fd  # None without fcntl
        self._held = True

    def release(self) -> None:
        """The lock file removed and the lock let go; the folder too when this claim made it and it is empty.

        The file is removed while still locked: no other run can be holding it then, and one
        that opened it meanwhile sees that it is gone (`_take`) and takes the new one. A folder
        that another claimer made an instant before this one took it is left, empty: it cannot
        be told from an empty folder the user gave.
        """
        if not self._held:
            return
        self._held = False
        if self._fd is not None:
            with contextlib.suppress(OSError):
                if _is_open_as(self._fd, self.dir / LOCK):
                    (self.dir / LOCK).unlink()
            os.close(self._fd)
        if self.made:
            with contextlib.suppress(OSError):  # not empty (the run wrote files), or already gone
                os.rmdir(self.dir)


def claim_run_dir(run_dir: Path, spec_hash: str, resume: bool) -> Claim:
    """The run folder made if absent and locked for this run, then checked (`check_run_dir`).

    RunFolderError (FolderInUse) when another run holds it, and when it cannot be made
    or written (naming the OS's reason); on any refusal the folder is left as it was.
    """
    try:
        claim = _take(run_dir)
    except OSError as err:
        if run_dir.is_dir():  # a read-only folder holding a run: that is the thing to say
            check_run_dir(run_dir, spec_hash, resume)
        raise _cannot_write(run_dir, err) from None
    try:
        claim.state = check_run_dir(run_dir, spec_hash, resume)
    except BaseException:
        claim.release()
        raise
    return claim


def claim_default_run_dir(spec_name: str, spec_hash: str, resume: bool) -> Claim:
    """`default_run_dir`, claimed: each of several new runs started at once gets a folder of its own.

    A folder is free when this run holds its lock and it holds nothing else: a folder
    another run made an instant earlier is locked by it, or holds its files, and the
    next number is tried. With `resume`, the newest unfinished run, claimed.
    """
    if resume:
        return claim_run_dir(default_run_dir(spec_name, resume=True), spec_hash, resume=True)
    folders = _numbered(spec_name)
    while True:
        folder = next(folders)
        if not _looks_free(folder):
            continue
        try:
            claim = _take(folder)
        except FolderInUse:
            continue
        except OSError as err:
            raise _cannot_write(folder, err) from None
        try:
            if not _entries(folder):
                return claim
        except OSError:
            pass
        claim.release()  # files came between the look and the lock (a run that was killed at once)


def _take(run_dir: Path) -> Claim:
    """The folder made if absent, its LOCK created if absent and locked. FolderInUse, or the OSError."""
    if fcntl is None:
        return Claim(run_dir, None, _make_folder(run_dir))
    for _ in range(100):  # another round only when a run let go of the folder while this one took it
        made = _make_folder(run_dir)
        try:
            fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed since: its run ended without writing anything
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(fd)
            os.close(fd)
            by = f" (pid {holder})" if holder else ""
            raise FolderInUse(f"{run_dir} is in use by another specc train{by}: wait for it to end, or choose "
                              "another folder with --out DIR") from None
        except BaseException:
            os.close(fd)
            raise
        if _is_open_as(fd, run_dir / LOCK):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            for folder in (run_dir, run_dir / BACKUP):  # a killed run's half-written files: no one else writes here now
                remove_temporaries(folder)
            return Claim(run_dir, fd, made)
        os.close(fd)  # its run ended and removed the file after this one opened it: take the new one
    raise RunFolderError(f"cannot claim {run_dir}: other runs keep taking and letting go of it")


def _make_folder(run_dir: Path) -> bool:
    """True when this call created the folder (its parents too, when absent)."""
    try:
        run_dir.mkdir(parents=True)
        return True
    except FileExistsError:
        if run_dir.is_dir():
            return False
        if os.path.lexists(run_dir):
            raise RunFolderError(f"{run_dir} is not a folder: choose the run folder with --out DIR") from None
        raise  # a parent is not a folder


def _is_open_as(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _pid_in(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, ValueError):  # empty: its holder has not written it yet
        return None


def _cannot_write(run_dir: Path, err: OSError) -> RunFolderError:
    return RunFolderError(f"cannot write the run folder {run_dir}: {err.strerror or err}: choose another folder "
                          "with --out DIR")


def saved_hash(run_dir: Path) -> str | None:
    """The sha256 in the header of the run's spec.resolved.yaml (see `specc.lower.canonical.render_resolved`)."""
    try:
        with open(run_dir / RESOLVED, encoding="utf-8") as handle:
            head = [handle.readline() for _ in range(5)]
    except (OSError, UnicodeDecodeError):
        return None
    for line in head:
        match = re.match(r"#\s*sha256:\s*([0-9a-f]{64})\s*$", line)
        if match:
            return match.group(1)
    return None


def check_run_dir(run_dir: Path, spec_hash: str, resume: bool) -> str:
    """NEW for an absent or empty folder, RESUME for an unfinished run of the same spec with `resume`.

    Anything else raises RunFolderError saying what to do: specc never writes
    over or deletes a folder's files that it did not make for this run.
    """
    shown = str(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{shown} is not a folder: choose the run folder with --out DIR")
    try:
        entries = _entries(run_dir) if run_dir.exists() else []
    except OSError as err:
        raise RunFolderError(f"cannot read {shown}: {err.strerror or err}") from None
    if not entries:
        return NEW
    if not (run_dir / RESOLVED).is_file():
        raise RunFolderError(f"{shown} already holds files that are not a specc run: choose another folder with --out DIR")
    if (run_dir / METRICS).is_file():
        raise RunFolderError(f"{shown} holds a finished run: choose another folder with --out DIR "
                             "(or move that run away); --resume only continues an unfinished run")
    if not resume:
        raise RunFolderError(f"{shown} holds an unfinished run: continue it with --resume, or start a new run in "
                             "another folder with --out DIR")
    found = saved_hash(run_dir)
    if found != spec_hash:
        was = f"sha256 {found[:12]}..." if found else "an unreadable hash"
        raise RunFolderError(f"the spec changed since the run in {shown} started ({was} there, sha256 {spec_hash[:12]}... "
                             "now): resume it with the same spec and --set values, or start a new run with --out DIR")
    return RESUME


# -- JSON ----------------------------------------------------------------------------


def write_json(path: Path, data: Any) -> None:
    """A mapping, one key per line (a history's lists each on one line), written atomically."""
    if isinstance(data, dict):
        text = "{\n" + ",\n".join(f"  {json.dumps(str(k))}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"
    else:
        text = json.dumps(data, indent=2) + "\n"
    write_text(path, text)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# -- history -------------------------------------------------------------------------


class History:
    """Per-epoch values keyed like Keras's `History.history`, aligned with `epochs` (0-based).

    A key missing from an epoch's logs (`val_*` with validation_freq > 1) is
    None there. Recording epoch k drops any entries for epochs >= k first, so
    a resumed run that repeats an epoch replaces it: each epoch appears once.
    """

    def __init__(self, data: dict[str, list] | None = None):
        self.data: dict[str, list] = {"epochs": []}
        if data:
            self.data.update({key: list(values) for key, values in data.items()})

    @classmethod
    def read(cls, path: Path) -> "History":
        """The history saved in `path`; an empty one if there is none yet. RunFolderError if it is damaged."""
        if not path.exists():
            return cls()
        try:
            data = read_json(path)
        except (OSError, ValueError) as err:
            raise RunFolderError(f"cannot read {path}: {err}") from None
        epochs = data.get("epochs") if isinstance(data, dict) else None
        if not isinstance(epochs, list) or not all(isinstance(v, list) and len(v) == len(epochs) for v in data.values()):
            raise RunFolderError(f"{path} is not a specc history (per-epoch lists with `epochs`)")
        return cls(data)

    @property
    def epochs(self) -> list[int]:
        return self.data["epochs"]

    def record(self, epoch: int, logs: dict[str, Any], phase: str | None = None) -> None:
        """Epoch `epoch`'s logs; `phase`: the name of the phase it ran in (train.phases), kept as `phase`."""
        keep = sum(1 for e in self.epochs if e < epoch)
        for key in list(self.data):
            self.data[key] = self.data[key][:keep]
            if key not in ("epochs", PHASE) and all(v is None for v in self.data[key]) and key not in logs:
                del self.data[key]
        for key, value in logs.items():
            if _number(value) is not None and key not in self.data:
                self.data[key] = [None] * keep
        if phase is not None and PHASE not in self.data:
            self.data[PHASE] = [None] * keep
        for key in self.data:
            if key == PHASE:
                self.data[key].append(phase)
            elif key != "epochs":
                self.data[key].append(_number(logs.get(key)))
        self.epochs.append(int(epoch))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


# -- curves --------------------------------------------------------------------------


def plot_curves(history: dict[str, list], path: Path, title: str = "") -> None:
    """A PNG with one panel per quantity (loss first): training and validation against the epoch (1-based)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [e + 1 for e in history.get("epochs", [])]
    names = [k for k in history if k not in ("epochs", PHASE) and not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]  # validation-only keys
    names.sort(key=lambda k: (k != "loss", k == "learning_rate"))
    panels = max(len(names), 1)
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    for i, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, i + 1)
        for key, label, style in ((name, "training", "-"), (f"val_{name}", "validation", "--")):
            points = [(e, v) for e, v in zip(epochs, history.get(key, [])) if v is not None and math.isfinite(v)]
            if points:
                xs, ys = zip(*points)
                axes.plot(xs, ys, style, marker="o" if len(points) < 30 else None, markersize=3, label=label)
        phases = history.get(PHASE) or []
        for k in range(1, len(phases)):  # where a phase starts (train.phases): a line before its first epoch
            if phases[k] != phases[k - 1]:
                axes.axvline(epochs[k] - 0.5, color="0.6", linewidth=0.8)
                axes.annotate(phases[k], (epochs[k] - 0.5, 1), xycoords=("data", "axes fraction"), fontsize=7,
                              color="0.4", rotation=90, va="top", ha="right")
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        if name == "learning_rate":
            axes.set_yscale("log")
        if axes.get_legend_handles_labels()[0]:  # nothing finite to plot (a loss of nan): no empty legend
            axes.legend()
    if not names:
        figure.add_subplot(1, 1, 1).text(0.5, 0.5, "no epochs recorded", ha="center", va="center")
    if title:
        figure.suptitle(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def remove_backup(run_dir: Path) -> None:
    """The run's own backup/ folder (BackupAndRestore's files only), once the run is finished."""
    _remove_backup_files(run_dir / BACKUP)


def _remove_backup_files(backup: Path) -> None:
    """BackupAndRestore's files, and those of phases (a phase-N folder each, the phase state), then the folder if empty."""
    if not backup.is_dir():
        return
    for child in backup.iterdir():
        if child.is_dir() and re.fullmatch(r"phase-\d+", child.name):
            _remove_backup_files(child)
        elif child.is_file() and (child.name.startswith(("latest.weights.h5", "training_metadata.json", ".saving-",
                                                         "phase.json", "start.weights.h5")) or is_temporary(child.name)):
            child.unlink(missing_ok=True)
    try:
        os.rmdir(backup)
    except OSError:  # something else is in there: leave it
        pass


def discard_new_run(run_dir: Path, *, remove_folder: bool) -> None:
    """Undo a new run that failed before its first epoch: its spec.resolved.yaml, its backup, its lock file
    (the run still holds the lock: its claim's release only lets go), and the folder when this run made it
    and it is then empty."""
    (run_dir / RESOLVED).unlink(missing_ok=True)
    remove_backup(run_dir)
    with contextlib.suppress(OSError):
        (run_dir / LOCK).unlink(missing_ok=True)
    if not remove_folder:
        return
    try:
        os.rmdir(run_dir)
    except OSError:  # not empty (or not ours to remove): leave it
        pass


def train_command(spec_path: str, overrides: Sequence[str], out: str | os.PathLike | None, *, resume: bool,
                  workers: int | None = None) -> list[str]:
    """The `specc train` command line that runs (with `resume`: continues) a run, for messages and for workers."""
    words = ["specc", "train", spec_path, *[w for o in overrides for w in ("--set", o)]]
    if workers is not None:
        words[2:2] = ["--workers", str(workers)]
    if out is not None:
        words += ["--out", str(out)]
    return words + (["--resume"] if resume else [])
