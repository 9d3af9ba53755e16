"""The chain's scheduler: each stage once all it comes after are done, side by side when
they call the model, at most `jobs` at once; a stage whose answer is kept finishes on the
main thread, without a worker."""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any

from meta_prompting.chains.chain import FAILED, StageResult
from meta_prompting.errors import UserError
from meta_prompting.models.base import ModelRequest, Notice, Reply, TextSink

if TYPE_CHECKING:
    from meta_prompting.chains.chainfile import Chain


class NeedsModel(Exception):
    """Raised by the model call of a stage looked at on the main thread: hand it to a
    worker. Nothing is written before a model call, so the worker starts clean."""


class Refusing:
    """The `Model` of a stage looked at on the main thread: any call is NeedsModel."""

    def __init__(self, name: str, provider: str) -> None:
        self.name, self.provider = name, provider

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        raise NeedsModel


def schedule(chain: Chain, one: Any, results: dict[str, StageResult], jobs: int,
             on_state: Any = None) -> None:
    """Run each stage once all it comes after are done; stages that call the model run
    side by side, at most `jobs` at once.

    Each ready stage is first looked at on the main thread with a model call that
    refuses (NeedsModel): a stage whose answer is kept finishes right there. Eight
    threads taking turns at the interpreter lock over 50 kept stages cost more than
    the stages themselves. Only a stage that needs the model goes to a worker: daemon
    threads, waited on in short waits so that Ctrl+C leaves at once (whatever a stage
    was writing is atomic).
    """
    waiting = {s.name: {a.stage for a in s.after} for s in chain.stages}
    by_name = {s.name: s for s in chain.stages}
    ready = [s.name for s in chain.stages if not waiting[s.name]]
    todo: queue.Queue[str | None] = queue.Queue()
    done: queue.Queue[tuple[str, StageResult, BaseException | None]] = queue.Queue()
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []
    running = 0

    def attempt(name: str, probe: bool) -> tuple[StageResult, BaseException | None]:
        try:
            return one(by_name[name], probe), None
        except NeedsModel:
            raise
        except UserError as e:  # bad evidence, an unwritable folder: this stage's
            return StageResult(by_name[name], FAILED, str(e)), None
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            return StageResult(by_name[name], FAILED, repr(e)), e

    told: set[str] = set()

    def state(name: str, said: str) -> None:
        if on_state is not None:
            on_state(name, said)

    def worker() -> None:
        while (name := todo.get()) is not None:
            state(name, "running")
            done.put((name, *attempt(name, probe=False)))

    def finish(name: str, result: StageResult, error: BaseException | None) -> None:
        results[name] = result
        if error is not None:
            errors.append(error)
        for child in chain.children(name):
            waiting[child].discard(name)
            if not waiting[child]:
                ready.append(child)

    while len(results) < len(chain.stages):
        while ready:
            name = ready.pop(0)
            try:
                finish(name, *attempt(name, probe=True))
            except NeedsModel:
                if len(threads) < max(1, jobs) and len(threads) <= running:
                    threads.append(threading.Thread(target=worker, daemon=True))
                    threads[-1].start()
                todo.put(name)
                running += 1
                for child in chain.children(name):  # now it waits on a call in flight
                    if child not in told:
                        told.add(child)
                        state(child, f"waiting for {', '.join(sorted(waiting[child]))}")
        if len(results) < len(chain.stages):
            while True:
                try:
                    item = done.get(timeout=0.1)  # short waits: Ctrl+C stays responsive
                    break
                except queue.Empty:
                    continue
            running -= 1
            finish(*item)
    for _ in threads:
        todo.put(None)
    if errors:
        raise errors[0]
