"""The one shape of every model result: keyed by its inputs, made once, written whole.

A part, an answer, a scorecard and a chain stage are all steps. `ensure` looks for the
result (no lock, no heavy import: the cached case must stay cheap), else takes the
result's lock, clears what a killed run left, looks again (the run it waited for may
have made it), and only then makes it; making includes writing it whole. Whatever a
step writes is atomic, so "the file exists" means "the step is done", and recovery is
running the same command again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from meta_prompting.errors import GenerationError, UserError
from meta_prompting.store.files import publish_folder, remove_dead_folders
from meta_prompting.store.lock import StepFailed, locked
from meta_prompting.store.record import KEPT, MADE, OTHER

__all__ = ["StepFailed", "Workers", "ensure", "locked", "publish_folder", "remove_dead_folders",
           "run_all"]

T = TypeVar("T")



def ensure(lock_file: Path, look: Callable[[], T | None], make: Callable[[], T], *,
           timeout: float, what: str, quick: bool = True,
           clean: Callable[[], None] | None = None,
           on_wait: Callable[[], None] | None = None) -> tuple[str, T]:
    """The result `look` finds, else the one `make` makes, exactly once across runs,
    with how it came: KEPT (found at once), OTHER (another process made it while this
    one waited for the lock) or MADE (by `make`, which says itself when it failed).

    With `quick` False the first look is skipped (the caller has just looked).
    """
    if quick:
        found = look()
        if found is not None:
            return KEPT, found
    with locked(lock_file, timeout=timeout, what=what, on_wait=on_wait):
        if clean is not None:
            clean()
        found = look()
        if found is not None:
            return OTHER, found
        return MADE, make()


def with_deadline(call: Callable[..., T], seconds: float) -> Callable[..., T]:
    """Bound one model call, retries included, by the user's --timeout.

    The SDK's timeout is per HTTP attempt. The call runs in a daemon thread: past the
    deadline we stop waiting (and so release the lock), and a late answer is dropped,
    never written.
    """
    def bounded(*args: Any, **kwargs: Any) -> T:
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                box.put((True, call(*args, **kwargs)))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
                box.put((False, e))

        threading.Thread(target=run, daemon=True, name="model-call").start()
        try:
            ok, value = box.get(timeout=seconds)
        except queue.Empty:
            raise GenerationError(f"no finished answer within {seconds:g}s (--timeout)") from None
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    return bounded


def run_all(jobs: int, tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run tasks on at most `jobs` worker threads; results in task order.

    The first error stops the handing out of tasks and is raised once the running
    ones are left (see Workers).
    """
    if len(tasks) <= 1 or jobs <= 1:
        return [task() for task in tasks]
    workers: Workers[int, T] = Workers(jobs)
    try:
        for i, task in enumerate(tasks):
            workers.submit(i, task)
        results: dict[int, T] = {}
        errors: list[BaseException] = []
        while workers.busy:
            i, value, error = workers.next_done()
            if error is not None:
                if not errors:
                    workers.close()  # what has not started never will; what has, finishes
                errors.append(error)
            else:
                results[i] = value  # type: ignore[assignment]
    finally:
        workers.close()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(tasks))]


Tag = TypeVar("Tag")


class Workers(Generic[Tag, T]):
    """The one worker pool: at most `jobs` daemon threads taking tasks as they come.

    Daemon threads rather than a ThreadPoolExecutor: on Ctrl+C the main thread must be
    able to leave at once, and an executor's workers are joined at exit, which would
    wait for a hung HTTP call. Whatever they were writing is atomic, so nothing partial
    is left by leaving. A task is handed in with a tag; `next_done` gives back the tag
    with the task's result or error, in the order they finish.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self._todo: queue.Queue[tuple[Tag, Callable[[], T]] | None] = queue.Queue()
        self._done: queue.Queue[tuple[Tag, T | None, BaseException | None]] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._busy = 0  # tasks handed in and not yet given back

    def submit(self, tag: Tag, task: Callable[[], T]) -> None:
        self._busy += 1
        if len(self._threads) < self.jobs and len(self._threads) < self._busy:
            thread = threading.Thread(target=self._work, daemon=True)
            try:
                thread.start()
            except RuntimeError as e:  # no more threads to be had: run with those we have
                if not self._threads:
                    self._busy -= 1
                    raise UserError(f"cannot start a worker thread: {e}") from e
            else:
                self._threads.append(thread)
        self._todo.put((tag, task))

    def _work(self) -> None:
        while (item := self._todo.get()) is not None:
            tag, task = item
            try:
                self._done.put((tag, task(), None))
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                self._done.put((tag, None, e))

    @property
    def busy(self) -> int:
        return self._busy

    def next_done(self) -> tuple[Tag, T | None, BaseException | None]:
        """The next finished task; short waits keep the main thread responsive to Ctrl+C."""
        while True:
            try:
                item = self._done.get(timeout=0.1)
                break
            except queue.Empty:
                continue
        self._busy -= 1
        return item

    def close(self) -> None:
        """Hand out nothing more; threads still in a call are left to end on their own."""
        try:
            while True:
                if self._todo.get_nowait() is not None:
                    self._busy -= 1
        except queue.Empty:
            pass
        for _ in self._threads:
            self._todo.put(None)
