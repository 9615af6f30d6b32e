"""One family of expected errors, each mapped to a documented exit code by the CLI's single handler.

Anything that is not an :class:`ApcalError` is a bug: the handler logs its traceback to the run log and
prints one line.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GROUP_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process killed by the signal

#: The one table of exit codes and what each means (``apcal run --help`` prints it).
EXIT_CODES: tuple[tuple[tuple[int, ...], str], ...] = (
    ((EXIT_OK,), "everything built or already up to date"),
    (
        (EXIT_GROUP_FAILED,),
        "at least one group failed (the others were still built), a master was held back from the library,"
        " or the report was not written",
    ),
    ((EXIT_USAGE,), "recipe or usage error, or no usable frame to build (nothing was built)"),
    ((EXIT_LOCKED,), "another run holds the output folder's lock"),
    ((EXIT_INTERNAL,), "internal error (a bug: a crash log is written)"),
    (
        (EXIT_INTERRUPTED, EXIT_TERMINATED),
        "interrupted (Ctrl-C) or terminated (SIGTERM); a rerun completes the work",
    ),
)
#: The exit codes a run that ran its jobs records in its report.
RUN_REPORT_EXIT_CODES: tuple[int, ...] = (EXIT_OK, EXIT_GROUP_FAILED)


class ApcalError(Exception):
    """An expected failure with a message fit to show a user as one line."""

    exit_code = EXIT_USAGE


class RecipeError(ApcalError):
    """A recipe that cannot be loaded; ``problems`` holds every located message (``file:line:col: ...``)."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class FrameError(ApcalError):
    """A frame file that cannot be read or understood; the message names the file."""


class EngineError(ApcalError):
    """An engine that cannot run at all (missing binary, unwritable output) before any group is built."""


class LockedError(ApcalError):
    """Another run holds the output folder's lock."""

    exit_code = EXIT_LOCKED


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, as ``kill``, systemd and cron's timeouts send).

    Raised by apcal's SIGTERM handler so that the run unwinds like on Ctrl-C: temporary files are
    removed, PixInsight is stopped, the lock is released. A KeyboardInterrupt, so no ``except
    Exception`` (one job's failure handler) can swallow it.
    """

    exit_code = EXIT_TERMINATED
