"""``cairn provider``'s command line: bad flags are usage errors (exit 2) that start nothing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sdk.cli import main


@pytest.mark.parametrize("flags, message", [
    (["--price", "train"], "is not KIND=AMOUNT"),
    (["--price", "sing=5"], "is not KIND=AMOUNT"),
    (["--price", "train=-5"], "is not KIND=AMOUNT"),
    (["--price", "train=1.5"], "a fraction needs the token's symbol"),
    (["--price", "train=5 DOT CAIRN"], "is not KIND=AMOUNT"),
    (["--stake", "lots"], "'lots' is no amount"),
    (["--stake", "-200CAIRN"], "is no amount"),
    (["--stake", "1.5"], "a fraction needs the token's symbol"),  # told before anything starts: no chain needed
    (["--fault", "lazy"], "'lazy' is not one of"),
    (["--gpu", "maybe"], "'maybe' is not one of"),
    (["--cores", "0"], "0 is not in the range"),
    (["--input-cache-mib", "-1"], "-1 is not in the range"),
    (["--key", "not a key"], "--key"),
    (["--public-url", "127.0.0.1:8080"], "is not an http:// or https:// URL"),
    (["--public-url", "http://h:99999"], "is not an http:// or https:// URL"),
])
def test_bad_flags_are_usage_errors(tmp_path, flags, message):
    args = ["provider", "--key", "//Provider1", "--base-path", str(tmp_path / "p"), "--chain-rpc", "ws://127.0.0.1:1"]
    result = CliRunner().invoke(main, args + flags)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "p").exists()
