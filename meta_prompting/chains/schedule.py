"""The chain's scheduler: what is kept is decided on the main thread, model work goes to
the one worker pool, and each stage starts once all it comes after are done."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from meta_prompting.errors import UserError

if TYPE_CHECKING:
    from meta_prompting.chains.chain import Pending, StageResult
    from meta_prompting.chains.chainfile import Chain, Stage


def schedule(chain: Chain, look: Callable[[Stage], StageResult | Pending],
             make: Callable[[Pending], StageResult], done: Callable[[StageResult], None],
             results: dict[str, StageResult], jobs: int) -> None:
    """Fill `results` with every stage's, in graph order, at most `jobs` model calls at once.

    `look` decides a stage without the model (kept, blocked, or what it needs); only a
    stage that needs the model goes to a worker. Eight threads taking turns at the
    interpreter lock over 50 kept stages cost more than the stages themselves, so the
    kept ones never leave the main thread.
    """
    from meta_prompting.chains.chain import FAILED, StageResult
    from meta_prompting.store.step import Workers

    waiting = {s.name: {a.stage for a in s.after} for s in chain.stages}
    ready = [s for s in chain.stages if not waiting[s.name]]
    workers: Workers[str, StageResult] = Workers(jobs)
    errors: list[BaseException] = []

    def finish(stage: Stage, result: StageResult) -> None:
        results[stage.name] = result
        done(result)
        for child in chain.children(stage.name):
            waiting[child].discard(stage.name)
            if not waiting[child]:
                ready.append(next(s for s in chain.stages if s.name == child))

    def failed(stage: Stage, e: BaseException) -> StageResult:
        if isinstance(e, UserError):  # bad evidence, an unwritable folder: this stage's
            return StageResult(stage, FAILED, str(e))
        errors.append(e)  # a bug: raised once the running stages are left
        return StageResult(stage, FAILED, repr(e))

    by_name = {s.name: s for s in chain.stages}
    try:
        while len(results) < len(chain.stages):
            while ready:
                stage = ready.pop(0)
                try:
                    found = look(stage)
                except Exception as e:  # noqa: BLE001 - sorted by failed()
                    finish(stage, failed(stage, e))
                    continue
                if isinstance(found, StageResult):
                    finish(stage, found)
                else:
                    workers.submit(stage.name, partial(make, found))
            if len(results) < len(chain.stages):
                name, result, error = workers.next_done()
                stage = by_name[name]
                finish(stage, failed(stage, error) if error is not None else result or
                       StageResult(stage, FAILED, "no result"))
    finally:
        workers.close()
    if errors:
        raise errors[0]
