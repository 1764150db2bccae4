"""The package's expected errors share one base class, and each class carries the exit status a
command returns for it: the command line reads ``exc.exit_code`` instead of a table, so a new
error cannot silently fall back to "bad arguments"."""

from __future__ import annotations

ARGS_ERROR = 2  # unusable input: a flag, a path, a file that is not what the flag expects
RUN_ERROR = 1  # runs could not finish: a crashed worker, a lost cluster, a run that cannot go on
DATA_ERROR = 1  # the data has errors (check-data, train's checks before the first step)
NONFINITE_ERROR = 3  # train stopped on non-finite losses or gradients
WORSE_ERROR = 1  # --fail_on_worse / --fail_on_slower: the candidate side is worse


class HarnessError(Exception):
    """An expected failure, reported in one line; ``exit_code`` is the command's status."""

    exit_code = ARGS_ERROR


class InputError(HarnessError, ValueError):
    """Unusable input; the message names the flag, file, row or field."""

    exit_code = ARGS_ERROR


class RunFailure(HarnessError, RuntimeError):
    """Runs could not be finished (a worker crashed, the cluster was lost); finished runs are
    kept, and the message names what was lost."""

    exit_code = RUN_ERROR
