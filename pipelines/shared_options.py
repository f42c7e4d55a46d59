"""The options ``retry-lineage run`` and ``retry-lineage stream`` share, and their checks.

The options both pipelines take (``--output``, ``--hmac-key-file``, ``--parquet-codec``) with
their validation and the HMAC key they name, and the argv check that
type-checks every option and rejects unknown ones (or another command's).
Each pipeline module keeps only its own options, ``build()`` and ``run()``.
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence

# The parser Beam hands to `_add_argparse_args` (it adds `add_value_provider_argument`).
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from pipelines.exit_codes import UsageError
from transforms.parquet_writer import DEFAULT_PARQUET_CODEC, PARQUET_CODECS
from transforms.privacy import load_hmac_key

# Without --runner, run in-process: Beam's plain DirectRunner first tries to
# download the Prism binary, which fails on machines without internet access.
DEFAULT_LOCAL_RUNNER = "FnApiRunner"
BEAM_PASSES_THROUGH = "Every Apache Beam pipeline option (--runner, --project, --temp_location, ...) passes through."


class SharedOptions(PipelineOptions):
    """Options of both pipelines: where the tables go, their compression, the actor HMAC key."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--output", dest="output", default=None, help="Output directory.")
        parser.add_argument("--hmac-key-file", "--hmac_key_file", dest="hmac_key_file", default=None,
                            help="File whose bytes key the actor HMAC (else env RETRY_LINEAGE_HMAC_KEY).")
        parser.add_argument("--parquet-codec", "--parquet_codec", dest="parquet_codec", default=DEFAULT_PARQUET_CODEC,
                            help=f"Parquet compression, one of {', '.join(PARQUET_CODECS)} "
                                 f"(default {DEFAULT_PARQUET_CODEC}).")


def validate_shared_options(options: PipelineOptions) -> SharedOptions:
    """UsageError for a missing ``--output`` or an unknown codec; else the shared options."""
    shared = options.view_as(SharedOptions)
    if not shared.output:
        raise UsageError("--output is required (a directory)")
    if shared.parquet_codec not in PARQUET_CODECS:
        raise UsageError(f"--parquet-codec must be one of {', '.join(PARQUET_CODECS)}, "
            f"got {shared.parquet_codec!r}")
    return shared


def hmac_key_of(options: PipelineOptions) -> bytes | None:
    """The actor HMAC key of ``--hmac-key-file`` (or the environment); UsageError if unreadable."""
    try:
        return load_hmac_key(options.view_as(SharedOptions).hmac_key_file)
    except (OSError, ValueError) as error:
        raise UsageError(f"--hmac-key-file: {error}") from error


def print_help(prog: str, description: str, options_classes: Sequence[type[PipelineOptions]],
               epilog: str = BEAM_PASSES_THROUGH) -> None:
    """The help screen of a command whose options are those of ``options_classes``."""
    parser = _BeamArgumentParser(prog=prog, description=description, epilog=epilog)
    for options_class in options_classes:
        options_class._add_argparse_args(parser)
    parser.print_help()


def option_strings(options_class: type[PipelineOptions]) -> set[str]:
    """Every spelling (``--a-b`` and ``--a_b``) of the options a class defines."""
    parser = _BeamArgumentParser(add_help=False)
    options_class._add_argparse_args(parser)
    return {string for action in parser._actions for string in action.option_strings}


class _OneLineErrorParser(_BeamArgumentParser):
    def error(self, message):
        raise UsageError(message)


def check_argv(argv: Sequence[str], command: str, command_options: Sequence[type[PipelineOptions]],
               other_commands: Sequence[tuple[str, type[PipelineOptions]]] = ()) -> None:
    """Type-check every option Beam and this command know; reject others (one-line UsageErrors).

    ``command`` is the subcommand's name (``run``, ``stream``) and
    ``command_options`` its own options classes (the shared
    options are always included); an option of one of ``other_commands``
    (pairs of a command name and its options class) is named as such. Beam's
    own parsing prints a usage screen for a bad value and silently ignores an
    unknown option, so a typo would change a run without a word.
    """
    parser = _OneLineErrorParser(add_help=False, allow_abbrev=False)
    classes: list[type[PipelineOptions]] = [
        *_options_classes_not_of_this_project(), SharedOptions, *command_options]
    for options_class in classes:
        # An option defined by two option classes: the first definition is enough.
        with contextlib.suppress(argparse.ArgumentError):
            options_class._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(list(argv))
    for arg in unknown:
        if not arg.startswith("--"):
            continue
        name = arg.split("=", 1)[0]
        for other, options_class in other_commands:
            if name in option_strings(options_class):
                raise UsageError(f"{name} is an option of `retry-lineage {other}`; `{command}` does not use it")
        raise UsageError(f"unrecognized option {name}")


def _options_classes_not_of_this_project() -> Iterator[type[PipelineOptions]]:
    """Beam's (and any library's) options classes; each command adds this project's own."""
    for options_class in _all_subclasses(PipelineOptions):
        if not options_class.__module__.startswith("pipelines."):
            yield options_class


def _all_subclasses(cls: type[PipelineOptions]) -> Iterator[type[PipelineOptions]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)
