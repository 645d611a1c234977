"""The ``cairn`` group itself: a path a sub-command cannot write ends it with one line naming that path."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sdk.cli import main


@pytest.mark.parametrize("args", [["compute", "dataset", "digits", "-o"], ["ec", "encode", "{source}", "-o"]])
def test_an_output_path_that_cannot_be_made_is_one_line(tmp_path, args):
    source = tmp_path / "source.bin"
    source.write_bytes(b"fragment me")
    (tmp_path / "file").write_bytes(b"")
    output = tmp_path / "file" / "out"  # under a file: nothing can be made there
    result = CliRunner().invoke(main, [arg.format(source=source) for arg in args] + [str(output)])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [f"Error: {output}: Not a directory"]
