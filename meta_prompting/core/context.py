"""One command's context, built once by the face: the library, the model, the limits,
and the events through which the core tells the face what is happening."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from meta_prompting.grading.refine import Revise
    from meta_prompting.library.goals import Library, Part
    from meta_prompting.models import LazyModel
    from meta_prompting.models.base import Model, Notice
    from meta_prompting.models.budget import Budget
    from meta_prompting.parts.options import MakeText

DEFAULT_JOBS = 8
DEFAULT_TIMEOUT = 120.0


class ModelChoice:
    """The model a command uses, chosen once: `given` is a --model value (None:
    $META_PROMPTING_MODEL, else the provider's default), `base_url` is --base-url.

    Everything that needs the model's name, whether it can be reached, or the model
    itself asks this one object. The name is worked out on first use: a build that
    needs no model (every part present) never loads the model seam.
    """

    __slots__ = ("given", "base_url", "_name")

    def __init__(self, given: str | None = None, base_url: str | None = None) -> None:
        self.given, self.base_url = given, base_url
        self._name: str | None = None

    @property
    def name(self) -> str:
        """The model's full name ("gemini-flash-latest", "ollama:llama3.2"), resolved once."""
        if self._name is None:
            from meta_prompting.models import parse_spec

            self._name = str(parse_spec(self.given))
        return self._name

    def blocker(self) -> str | None:
        """Why the model cannot be asked now (cheap: no SDK import), or None."""
        from meta_prompting.models import model_blocker

        return model_blocker(self.given, self.base_url)

    def access(self) -> str | None:
        """How the model will be reached, in a few words; None when it has no way."""
        from meta_prompting.models import model_access

        return model_access(self.given, self.base_url)

    def open(self, *, timeout: float, on_notice: Notice | None = None) -> LazyModel:
        """The model itself, connected on its first call."""
        from meta_prompting.models import open_model

        return open_model(self.name, timeout=timeout, on_notice=on_notice,
                          base_url=self.base_url)

    def __repr__(self) -> str:
        return f"ModelChoice({self.given!r}, {self.base_url!r})"


class Events(NamedTuple):
    """What the face wants to hear while the core works (None: not told)."""

    progress: Callable[[str], None] | None = None  # "Generating 2 parts with ...", "  ran ..."
    notice: Callable[[str], None] | None = None  # a retry or a rate-limit wait
    part_waiting: Callable[[Part], None] | None = None  # another process makes this part
    run_waiting: Callable[[str], None] | None = None  # another process makes this run
    text: Callable[[str], None] | None = None  # one answer, as it streams
    make_part: MakeText | None = None  # a person makes each missing part (the wizard)
    revise: Revise | None = None  # a person revises each refinement (the wizard)
    stage: Callable[[str, str], None] | None = None  # a chain stage's state: "running"...


class Context(NamedTuple):
    root: Path  # the project library's folder (output/ is under it)
    library: Library | None  # None until loaded (--init and --check read files themselves)
    model: ModelChoice  # the one model choice: its name is resolved once, when needed
    generate: bool = True  # False: never call the model for a part (--no-generate)
    jobs: int = DEFAULT_JOBS  # model calls at once
    timeout: float = DEFAULT_TIMEOUT  # seconds for one call, retries included
    events: Events = Events()
    command: str = "python orchestrator.py"  # how to run this tool again, in the face's words
    budget: Budget | None = None  # no call is sent past it

    @property
    def lib(self) -> Library:
        """The library, which every mode but --init and --check is given loaded."""
        assert self.library is not None, "the face loads the library for this mode"
        return self.library

    def open_model(self, name: str | None = None) -> Model:
        """The model (or `name`, a judge's) held to the budget; connected on first call."""
        from meta_prompting.models.budget import budgeted

        return budgeted(self.lazy_model(name), self.budget)

    def lazy_model(self, name: str | None = None) -> LazyModel:
        from meta_prompting.models import open_model, parse_spec

        if name is None:
            return self.model.open(timeout=self.timeout, on_notice=self.events.notice)
        # Another model on the same server only for the same provider: answers made on a
        # local server are never sent to a cloud judge's URL, nor the other way round.
        same = parse_spec(name).provider == parse_spec(self.model.name).provider
        return open_model(name, timeout=self.timeout, on_notice=self.events.notice,
                          base_url=self.model.base_url if same else None)
