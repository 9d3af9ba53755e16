"""The error tree, and the exit codes that one place (cli.run) maps them to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # the toolkit was written, with placeholders for parts it lacks
EXIT_FAILS_SCORECARD = 4  # made for CI: an answer was graded and did not pass
EXIT_SUBMITTED = 5  # handed to a batch service: run the same command again to collect
EXIT_INTERRUPTED = 130


class MetaPromptingError(Exception):
    """Base of every error this tool raises on purpose."""

    exit_code = EXIT_USER_ERROR


class UserError(MetaPromptingError):
    """Something the user can fix; its message is the whole story, no traceback."""


class LibraryError(UserError):
    """goal_map.json, generation_jobs.json or a part in the parts bin is wrong."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class UnknownGoalError(UserError):
    """The goal asked for is not in the map."""


class UnsafeNameError(UserError):
    """A part or project name that could escape its folder."""


class ConflictError(UserError):
    """A rebuild would overwrite something a person wrote."""

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class GoalChangeError(ConflictError):
    """A build of one goal into a project that holds another goal's toolkit."""

    def __init__(self, message: str, old_goal: str, new_goal: str) -> None:
        super().__init__(message, [])
        self.old_goal = old_goal
        self.new_goal = new_goal


class GenerationError(UserError):
    """The model could not produce a part (kept as a reason, never as a crash)."""


class InteractiveSessionRequired(UserError):
    """The wizard was asked for where nobody can answer."""


class UsageError(MetaPromptingError):
    """Flags that do not fit together."""

    exit_code = EXIT_USAGE
