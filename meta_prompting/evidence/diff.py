"""A change as evidence (--evidence-diff REV): its unified diff and the files it touches.

`REV` alone is the work tree against that revision (what a pull request's checkout
changes against `origin/main`); `A..B` is B against A, `A...B` is B against where it
left A, as git means them. Besides the diff, each changed file is its own document as
it now stands (in the work tree, or at B), so the judge and the model read whole files,
not only hunks. The same rules as a folder's walk hold: files whose names say they may
hold secrets are left out of the diff and the documents alike, and so are files git
ignores, binary files and files that are not UTF-8 text, each with a note; deleted
files are listed. The size cap is the one all evidence shares.

git is asked through a subprocess with a timeout, each revision resolved to a commit
first, so a name that looks like an option or a path never reaches `git diff`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from meta_prompting.errors import UserError
from meta_prompting.evidence.read import MAX_EVIDENCE_BYTES, Evidence
from meta_prompting.evidence.walk import SNIFF, holds_secrets, relative_name
from meta_prompting.store.files import os_reason, read_regular
from meta_prompting.toolkit.prompt import Document

FLAG = "--evidence-diff"
GIT_TIMEOUT = 60.0  # seconds; a diff of a large repository is a second or two
_SHOWN = 5  # names in one note; the rest are counted


class _Git:
    def __init__(self, rev: str, cwd: Path, timeout: float) -> None:
        self.rev, self.cwd, self.timeout = rev, cwd, timeout

    def __call__(self, *args: str, ok: tuple[int, ...] = (0,), given: bytes = b""
                 ) -> tuple[int, bytes]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = subprocess.run(
                ["git", "-c", "core.quotePath=false", *args], cwd=self.cwd, env=env,
                input=given, capture_output=True, timeout=self.timeout)
        except FileNotFoundError:
            raise UserError(f"{FLAG} {self.rev}: git is not installed (or not on PATH)"
                            ) from None
        except subprocess.TimeoutExpired:
            raise UserError(f"{FLAG} {self.rev}: git did not answer in {self.timeout:g} s"
                            ) from None
        except OSError as e:
            raise UserError(f"{FLAG} {self.rev}: cannot run git: {os_reason(e)}") from e
        if done.returncode not in ok:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UserError(f"{FLAG} {self.rev}: git {args[0]} failed: "
                            f"{said[0] if said else f'exit {done.returncode}'}")
        return done.returncode, done.stdout


def add_diff(evidence: Evidence, rev: str, base: Path | None = None,
             timeout: float = GIT_TIMEOUT) -> Evidence:
    """`evidence` with the change `rev` names added, within the one size cap."""
    base = base or Path.cwd()
    documents, notes = diff_documents(rev, base, timeout)
    found = list(evidence.filling.documents)
    seen = {d.name for d in found}
    size = evidence.size
    for doc in documents:
        if doc.name in seen:
            continue  # also named with --evidence: once is enough
        seen.add(doc.name)
        size += len(doc.text.encode("utf-8"))
        if size > MAX_EVIDENCE_BYTES:
            raise UserError(f"{FLAG} {rev}: over {MAX_EVIDENCE_BYTES // 1024} KiB of text "
                            f"with the other evidence (at {doc.name}); compare with a nearer "
                            "revision or give less --evidence")
        found.append(doc)
    return Evidence(evidence.filling._replace(documents=tuple(found)),
                    evidence.notes + tuple(notes), size)


def diff_documents(rev: str, base: Path, timeout: float = GIT_TIMEOUT
                   ) -> tuple[list[Document], list[str]]:
    """The diff `rev` names and the changed files as they stand, each a document."""
    if not rev.strip() or rev.startswith("-") or "\0" in rev:
        raise UserError(f"{FLAG} {rev!r}: not a revision (e.g. origin/main, HEAD~1 or A..B)")
    git = _Git(rev, base, timeout)
    code, out = git("rev-parse", "--show-toplevel", ok=(0, 128))
    if code:
        raise UserError(f"{FLAG} {rev}: {base} is not in a git repository")
    top = Path(os.fsdecode(out.rstrip(b"\n")))
    git.cwd = top  # paths from git are relative to the top
    old, new = _commits(git, rev)
    ends = [old] + ([new] if new else [])
    _, listing = git("diff", "--no-color", "--no-ext-diff", "--name-status", "-z", "-M",
                     *ends, "--")
    changed, deleted = _changes(listing)
    notes: list[str] = []
    skip = _skipped(git, changed, notes)
    keep = [p for p in changed if p not in skip]
    exclude = [f":(exclude,literal){p}" for p in sorted(skip | {p for p in deleted
                                                               if holds_secrets(_leaf(p))})]
    _, patch = git("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", *ends,
                   "--", ".", *exclude)
    if not patch.strip():
        notes.append(f"{FLAG} {rev}: no changes")
        return [], notes
    text = patch.decode("utf-8", "replace")
    if "\ufffd" in text and "\ufffd" not in patch.decode("utf-8", "ignore"):
        notes.append(f"{FLAG} {rev}: the diff holds text that is not UTF-8 (shown as \ufffd)")
    documents = [Document(f"git diff {rev}", text)]
    binary: list[str] = []
    for path in keep:
        doc = _document(git, top, base, path, new, notes, binary)
        if doc is not None:
            documents.append(doc)
    if binary:
        notes.append(f"skipped binary file{'s' if len(binary) > 1 else ''} "
                     f"{_names(binary)} (in the diff as changed)")
    if deleted:
        notes.append(f"deleted by the change: {_names(deleted)}")
    return documents, notes


def _commits(git: _Git, rev: str) -> tuple[str, str | None]:
    """(old, new) commits; new is None for the work tree."""
    def commit(name: str) -> str:
        code, out = git("rev-parse", "--verify", "--quiet", "--end-of-options",
                        f"{name}^{{commit}}", ok=(0, 1, 128))
        if code:
            raise UserError(f"{FLAG} {rev}: no revision {name!r} in {git.cwd} (a branch of "
                            "a remote may need fetching: git fetch origin)")
        return out.decode("ascii").strip()

    for sep in ("...", ".."):
        if sep in rev:
            a, b = rev.split(sep, 1)
            old, new = commit(a or "HEAD"), commit(b or "HEAD")
            if sep == "...":
                _, out = git("merge-base", old, new)
                old = out.decode("ascii").strip()
            return old, new
    return commit(rev), None


def _changes(listing: bytes) -> tuple[list[str], list[str]]:
    """(changed paths as they now are, deleted paths) from --name-status -z."""
    fields = [os.fsdecode(f) for f in listing.split(b"\0") if f]
    changed: list[str] = []
    deleted: list[str] = []
    i = 0
    while i < len(fields):
        status = fields[i]
        if status[:1] in ("R", "C"):  # renamed or copied: from, then to
            changed.append(fields[i + 2])
            i += 3
            continue
        (deleted if status == "D" else changed).append(fields[i + 1])
        i += 2
    return changed, deleted


def _skipped(git: _Git, paths: list[str], notes: list[str]) -> set[str]:
    """Paths left out of the diff and the documents: secrets, and what git ignores."""
    secret = [p for p in paths if holds_secrets(_leaf(p))]
    if secret:
        notes.append(f"skipped {_names(secret)}: may hold secrets (name a file on its own "
                     "with --evidence to send it)")
    rest = [p for p in paths if p not in secret]
    ignored: list[str] = []
    if rest:  # tracked files a .gitignore now names (exit 1: none is ignored)
        code, out = git("check-ignore", "--no-index", "-z", "--stdin", ok=(0, 1),
                        given=b"".join(os.fsencode(p) + b"\0" for p in rest))
        ignored = [os.fsdecode(f) for f in out.split(b"\0") if f] if code == 0 else []
    if ignored:
        notes.append(f"skipped what .gitignore leaves out: {_names(ignored)}")
    return set(secret) | set(ignored)


def _document(git: _Git, top: Path, base: Path, path: str, new: str | None,
              notes: list[str], binary: list[str]) -> Document | None:
    shown = relative_name(top / path, base)
    if new is None:
        try:
            data = read_regular(top / path, MAX_EVIDENCE_BYTES, follow_links=False)
        except FileNotFoundError:
            notes.append(f"skipped {shown}: changed, but no longer in the work tree")
            return None
        except OSError as e:  # a link, a FIFO, a file over the cap
            notes.append(f"skipped {shown}: {os_reason(e)}")
            return None
    else:
        _, data = git("cat-file", "blob", f"{new}:{path}")
    if b"\0" in data[:SNIFF]:
        binary.append(shown)
        return None
    try:
        return Document(shown, data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        notes.append(f"skipped {shown}: not UTF-8 text")
        return None


def _leaf(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _names(paths: list[str]) -> str:
    more = f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    return ", ".join(paths[:_SHOWN]) + more
