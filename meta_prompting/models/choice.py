"""The model a command uses, chosen once: as --model gave it, else the default.

A command's context holds one; everything that needs the model's name, whether it can
be reached, or the model itself asks it. The name is worked out on first use, so a
build that needs no model (every part present) never imports a provider's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meta_prompting.models import LazyModel
    from meta_prompting.models.base import Notice


class ModelChoice:
    """`given` is a --model value (None: $META_PROMPTING_MODEL, else the provider's
    default); `base_url` is --base-url, for an OpenAI-compatible server."""

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
