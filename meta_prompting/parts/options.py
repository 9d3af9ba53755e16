"""How missing parts are made in one command: by the model or a person, how many at once,
within what time, and who is told. The core fills it from its context; it is cheap to
import, so that a build whose parts are all present never loads the supplying machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Protocol

    from meta_prompting.library.goals import Part
    from meta_prompting.models import LazyModel
    from meta_prompting.models.base import Notice
    from meta_prompting.models.budget import Budget
    from meta_prompting.parts.prompt import Generated, PartRequest

    class ModelChoice(Protocol):
        """The command's model (its context's): named, checked and opened on demand."""

        @property
        def name(self) -> str: ...
        def blocker(self) -> str | None: ...
        def open(self, *, timeout: float, on_notice: Notice | None = None) -> LazyModel: ...

# What makes a part's text: given the request, the text, or None for "leave a
# placeholder" (the wizard's person may choose that); raises GenerationError.
MakeText = Callable[["PartRequest"], "Generated | None"]


class SupplyOptions(NamedTuple):
    model: ModelChoice
    generate: bool = True  # False: never call the model (--no-generate)
    jobs: int = 8  # parts made at once
    timeout: float = 120.0  # seconds for one part, retries included
    describe: Mapping[str, str] = {}  # part key or file name -> description (never mutated)
    make: MakeText | None = None  # the wizard's own way to make a part's text
    progress: Callable[[str], None] | None = None  # "generating...", "generated x (2.1s)"
    on_wait: Callable[[Part], None] | None = None  # another run is generating this part
    on_notice: Callable[[str], None] | None = None  # "retrying x.txt in 2.0s (...)"
    budget: Budget | None = None  # --budget: no part's call is sent past it


def generation_blocker(options: SupplyOptions) -> str | None:
    """Why parts cannot be generated now (cheap: no SDK import), or None."""
    if options.make is not None:
        return None
    if not options.generate:
        return "generation is off (--no-generate)"
    # no key, or a blank one the SDK would still use; no server for a local model
    return options.model.blocker()
