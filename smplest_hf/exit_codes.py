"""Exit statuses of every command line of the project: `smplest-x` (all subcommands, `convert-original`
included) and `python -m hub_datasets`. One convention, so scripts and schedulers can tell the cases apart.

| status | name               | meaning                                                                    |
|--------|--------------------|----------------------------------------------------------------------------|
| 0      | `OK`               | the run did everything it was asked                                         |
| 1      | `INTERNAL_ERROR`   | a bug in smplest_hf (a traceback is printed): please report it             |
| 2      | `BAD_INPUT`        | a mistake the user can fix: arguments, missing/corrupt/unsupported files,  |
|        |                    | a non-empty output folder without `--overwrite`; one line on stderr, and   |
|        |                    | nothing was written                                                        |
| 3      | `SOME_SKIPPED`     | the run finished but skipped some inputs (`--on-error skip`); each skipped |
|        |                    | input and its reason are listed in the run's `results.json`                |
| 130    | `INTERRUPTED`      | stopped by SIGINT (Ctrl-C): 128 + 2, as shells report it                   |
| 143    | `TERMINATED`       | stopped by SIGTERM (timeouts, `docker stop`, schedulers): 128 + 15        |

After 2 the output folder is as it was before the run; after 130 and 143 too, or, when the signal came during
the final move of the results into place, it holds the complete results. Never a partial set. One exception,
on purpose: a dataset conversion (`python -m hub_datasets convert-*`) that had already finished whole shards keeps
them (and its `.conversion/` state), so that the same command resumes instead of starting hours of work again; it
says so in its error line. Every shard it keeps is complete.
SIGTERM becomes an exception while a command runs (`sigterm_raises`), as SIGINT becomes KeyboardInterrupt, so
`finally` blocks clean up the same way; `Terminated` subclasses KeyboardInterrupt, so code that keeps finished
work on an interruption (dataset shards) does so for both, and the commands tell them apart for the exit status
(catch `Terminated` before `KeyboardInterrupt`).
This module imports only the standard library, so every layer (and `hub_datasets`) may use it.
"""

import contextlib
import signal

OK = 0
INTERNAL_ERROR = 1
BAD_INPUT = 2
SOME_SKIPPED = 3
INTERRUPTED = 130  # 128 + SIGINT
TERMINATED = 143  # 128 + SIGTERM

# For `--help` epilogs: the same table in one paragraph.
EXIT_STATUS_HELP = (
    "Exit status: 0 success; 1 internal error (a bug: traceback); 2 bad input or usage (one error line, nothing "
    "written); 3 finished but some inputs were skipped (--on-error skip; listed in results.json); 130 interrupted "
    "(SIGINT/Ctrl-C); 143 terminated (SIGTERM). Never partial outputs: after 2 the output folder is as it was; after "
    "130 or 143 too, or complete when the signal came during the final move."
)



class Terminated(KeyboardInterrupt):
    """SIGTERM (timeouts, `docker stop`, schedulers), raised in the main thread while `sigterm_raises` is active."""


@contextlib.contextmanager
def sigterm_raises():
    """While the block runs, SIGTERM raises `Terminated` (once: a second SIGTERM during the clean-up is ignored);
    the previous handler comes back afterwards. Only the main thread can set signal handlers; elsewhere (a test
    thread) SIGTERM keeps its handler."""

    def terminate(signal_number, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["BAD_INPUT", "EXIT_STATUS_HELP", "INTERNAL_ERROR", "INTERRUPTED", "OK", "SOME_SKIPPED", "TERMINATED", "Terminated", "sigterm_raises"]
