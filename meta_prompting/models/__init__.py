"""The model seam: one factory for every caller, one registry line per provider.

`open_model` resolves the model's name (the --model given, else $META_PROMPTING_MODEL,
else the provider's default), the provider and the deadline once, and returns a
`Model` that connects on its first call: a build from a complete library or a fully
cached run never imports a provider's SDK. Only this module and the provider modules
know which providers exist.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import GenerationError

if TYPE_CHECKING:  # types only: a build that needs no model never loads them
    from meta_prompting.models.base import Model, ModelRequest, Notice, Reply, TextSink

# provider name -> its module, whose functions take the provider's name first:
# connect(provider, name, *, timeout, base_url_given), blocker(provider, base_url),
# access_note(provider, base_url), default_name(provider). A provider is its module
# and one line here.
PROVIDERS = {
    "gemini": "meta_prompting.models.gemini",
    **dict.fromkeys(("openai", "ollama", "openai-compat"), "meta_prompting.models.openai_compat"),
}
DEFAULT_PROVIDER = "gemini"  # a bare model name is Gemini's


class Spec(NamedTuple):
    provider: str
    name: str

    def __str__(self) -> str:
        return self.name if self.provider == DEFAULT_PROVIDER else f"{self.provider}:{self.name}"


def provider_module(provider: str) -> ModuleType:
    return importlib.import_module(PROVIDERS[provider])


def parse_spec(given: str | None) -> Spec:
    """The provider and model a --model value (or none) names; a bare name is Gemini's."""
    chosen = given or os.environ.get("META_PROMPTING_MODEL") or ""
    provider, sep, name = chosen.partition(":")
    if not sep or provider not in PROVIDERS:
        provider, name = DEFAULT_PROVIDER, chosen
    if not name:
        name = provider_module(provider).default_name(provider)
    if not name:
        raise GenerationError(f"--model {provider}: name the model, as {provider}:NAME")
    return Spec(provider, name)


def default_model() -> str:
    """--model's value when none is given: $META_PROMPTING_MODEL, else ours."""
    return str(parse_spec(None))


def model_blocker(given: str | None, base_url: str | None = None) -> str | None:
    """Why the model cannot be asked now (cheap: no SDK import), or None."""
    try:
        spec = parse_spec(given)
    except GenerationError as e:
        return str(e)
    reason: str | None = provider_module(spec.provider).blocker(spec.provider, base_url)
    return reason


def model_access(given: str | None, base_url: str | None = None) -> str | None:
    """How the model will be reached, in a few words; None when it has no way."""
    spec = parse_spec(given)
    note: str | None = provider_module(spec.provider).access_note(spec.provider, base_url)
    return note


class LazyModel:
    """The model, connected on its first call and every call bounded by the deadline."""

    def __init__(self, spec: Spec, timeout: float, on_notice: Notice | None = None,
                 base_url: str | None = None) -> None:
        self.spec, self.timeout, self.on_notice = spec, timeout, on_notice
        self.base_url = base_url
        self.name, self.provider = spec.name, spec.provider
        import threading  # only once a model is opened

        self._lock = threading.Lock()
        self._model: Model | None = None
        self._why: str | None = None

    def connect(self) -> str | None:
        """Why the model cannot be reached (no key, ...), or None once it can."""
        with self._lock:
            if self._model is None and self._why is None:
                module = provider_module(self.provider)
                self._why = module.blocker(self.provider, self.base_url)
                if self._why is None:
                    try:
                        self._model = module.connect(self.provider, self.name,
                                                     timeout=self.timeout,
                                                     base_url_given=self.base_url)
                    except GenerationError as e:
                        self._why = str(e)
            return self._why

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        why = self.connect()
        if self._model is None:
            raise GenerationError(why or "no model")
        from meta_prompting.store.step import with_deadline

        model, notice = self._model, on_notice or self.on_notice
        return with_deadline(lambda: model.complete(request, on_text=on_text,
                                                    on_notice=notice), self.timeout)()


    def count_tokens(self, text: str) -> int:
        """The service's count of tokens in `text`, where the provider can count."""
        why = self.connect()
        counter = getattr(self._model, "count_tokens", None)
        if counter is None:
            raise GenerationError(why or f"{self.provider} models do not count tokens")
        from meta_prompting.store.step import with_deadline

        counted: int = with_deadline(counter, self.timeout)(text)
        return counted


def open_model(given: str | None, *, timeout: float, on_notice: Notice | None = None,
               base_url: str | None = None) -> LazyModel:
    """The one way to a model: `given` is a --model value (None: the default), such as
    "gemini-2.5-flash" or "ollama:llama3.2"; `base_url` is --base-url."""
    return LazyModel(parse_spec(given), timeout, on_notice, base_url)
