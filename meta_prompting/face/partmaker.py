"""The wizard's way to make a missing part: a person decides, one part at a time.

The build's `make` callback. Only text the person accepts is returned, and the core
writes it under the part's lock; the wizard never writes a file itself.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from meta_prompting.errors import GenerationError
from meta_prompting.face import ask
from meta_prompting.face.wizard import _escape, _printable

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.status import Status

    from meta_prompting.core.context import Context
    from meta_prompting.parts.prompt import Generated, PartRequest

# The answers are the titles people see; the code compares them.
GENERATE, WRITE, PLACEHOLDER = ("Generate it with the model", "Write it myself",
                                "Leave a placeholder")
ACCEPT, REGENERATE, REVISE, EDIT = ("Accept", "Regenerate (a fresh attempt)",
                                    "Revise with a comment", "Edit it")
AGAIN = "Try again"


class PartMaker:
    """The build's `make` callback: one missing part at a time, a person deciding.

    Only text the person accepts is returned, and the core writes it. Each generation
    is a fresh request: the model hears of an earlier attempt only in a revision.
    """

    def __init__(self, out: Console, err: Console, ctx: Context, blocker: str | None,
                 total: int) -> None:
        self.out, self.err, self.ctx, self.blocker = out, err, ctx, blocker
        self.count, self.total = 0, total
        self._model: Callable[[PartRequest], Generated | None] | None = None
        self._told: Callable[[str], None] | None = None  # the spinner a notice updates

    def __call__(self, request: PartRequest) -> Generated | None:
        part = request.part
        self.count += 1
        self.out.print()
        self.out.rule(f"Part {self.count} of {max(self.total, self.count)}: {part.key}",
                      align="left")
        self.out.print(f"[dim]What it is for:[/] {_escape(request.description)}")
        choices = [WRITE, PLACEHOLDER] if self.blocker else [GENERATE, WRITE, PLACEHOLDER]
        pick = ask.select("How should it be made?", choices)
        if pick == WRITE:
            return self._write(request)
        if pick == PLACEHOLDER:
            return None
        description = ask.text(
            "What is it for? (told to the model)", default=request.description,
            validate=lambda text: bool(text.strip()) or "say in a few words what it is for")
        return self._generate(request._replace(description=" ".join(description.split())))

    def _generate(self, base: PartRequest) -> Generated | None:
        from rich.panel import Panel
        from rich.text import Text

        from meta_prompting.face.show import SERVICE_FAILURE
        from meta_prompting.parts.prompt import Generated

        spinning = f"Generating {base.part.name}… (Ctrl+C stops)"
        attempt = base
        while True:
            try:
                with ask.keys_ignored(), self.err.status(spinning) as status:
                    self._told = partial(_retrying, status, base.part.name)
                    try:
                        made = self._make()(attempt)
                    finally:
                        self._told = None
                if made is None:
                    raise GenerationError("the model gave no text")
                # The record keeps what the model was told, edited or not.
                made = made._replace(description=base.description)
            except GenerationError as e:
                self.out.print(f"[red]Generation failed:[/] {_escape(str(e))}")
                if SERVICE_FAILURE.search(str(e)):
                    self.out.print("The model's service is busy or down, not your set-up: "
                                   "try again now, or later (the same command finishes it).")
                pick = ask.select("What now?", [AGAIN, WRITE, PLACEHOLDER])
                if pick == WRITE:
                    return self._write(base)
                if pick == PLACEHOLDER:
                    return None
                continue
            while True:  # until the person accepts, asks for another attempt, or gives up
                self.out.print(Panel(Text(_printable(made.text.rstrip(), lines=True)),
                                     title=base.part.key, title_align="left",
                                     subtitle=_escape(made.model) if made.model else None,
                                     subtitle_align="right"))
                pick = ask.select("This text?", [ACCEPT, REGENERATE, REVISE, EDIT, PLACEHOLDER])
                if pick == ACCEPT:
                    return made
                if pick == PLACEHOLDER:
                    return None
                if pick == EDIT:
                    edited = ask.edit(made.text, base.part.name,
                                      lambda line: self.out.print(_printable(line), markup=False))
                    if edited.strip() and edited != made.text:
                        made = Generated(_as_file(edited), f"{made.model}, edited by hand",
                                         base.description)
                    continue
                if pick == REGENERATE:
                    attempt = base
                else:
                    comment = ask.text("What should change?", validate=lambda text: bool(
                        text.strip()) or "say what to change")
                    attempt = base._replace(draft=made.text, comment=comment.strip())
                break

    def _make(self) -> Callable[[PartRequest], Generated | None]:
        if self._model is None:
            from meta_prompting.core.build import supply_options
            from meta_prompting.parts.supply import default_maker

            model, why = default_maker(  # imports the SDK: only when asked
                supply_options(self.ctx, {})._replace(on_notice=self._notice), named=False)
            if model is None:
                raise GenerationError(why or "the model is not available")
            self._model = model
        return self._model

    def _notice(self, note: str) -> None:
        told = self._told
        if told is not None:
            told(note)

    def _write(self, request: PartRequest) -> Generated | None:
        from meta_prompting.parts.prompt import Generated

        self.out.print(f"Type the {request.part.kind}; {ask.FINISH_HINT}. Leave it empty "
                       "for a placeholder.")
        text = ask.text(f"{request.part.name}:", multiline=True, instruction="\n")
        if not text.strip():
            self.out.print("Empty: left as a placeholder.")
            return None
        return Generated(_as_file(text), None)  # no model: a library part like any other


def _retrying(status: Status, name: str, note: str) -> None:
    # Called on the call's thread (rich's status has its own lock); short, to fit 80 columns.
    status.update(f"Generating {_escape(name)}… {_escape(note)}")


def _as_file(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
