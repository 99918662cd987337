"""``python -m uba_hf_cli.render``: write ``_pretrain_help.py``, the pre-rendered ``uba-pretrain --help``
(run after changing an option of the job or upgrading Transformers; ``tests/test_cli_usability.py`` checks it)."""

from __future__ import annotations

from pathlib import Path

TARGET = Path(__file__).with_name("_pretrain_help.py")


def help_module_source() -> str:
    """The source of ``_pretrain_help.py`` for the installed Transformers."""
    from uba_hf.pretrain.cli import build_parser

    from . import _installed_transformers

    return (
        '"""`uba-pretrain --help`, rendered ahead of time by `python -m uba_hf_cli.render`. Do not edit."""\n\n'
        f"TRANSFORMERS_VERSION = {_installed_transformers()!r}\n"
        f"TEXT = {build_parser().format_help()!r}\n"  # one line: this file is data, kept out of ruff and line counts
    )


if __name__ == "__main__":
    TARGET.write_text(help_module_source())
    print(f"wrote {TARGET}")
