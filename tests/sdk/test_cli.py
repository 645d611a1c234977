"""The ``cairn`` group itself: a path a sub-command cannot write ends it with one line naming that path; a node
that cannot be reached is one line saying where a devnet's node is to be found."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sdk.chain import BadArgument, ConnectionFailed
from runtime.keyring import Keypair
from sdk.cli import RPC_ENVVAR, cli_account, error_line, main


@pytest.mark.parametrize("args", [["compute", "dataset", "digits", "-o"], ["ec", "encode", "{source}", "-o"]])
def test_an_output_path_that_cannot_be_made_is_one_line(tmp_path, args):
    source = tmp_path / "source.bin"
    source.write_bytes(b"fragment me")
    (tmp_path / "file").write_bytes(b"")
    output = tmp_path / "file" / "out"  # under a file: nothing can be made there
    result = CliRunner().invoke(main, [arg.format(source=source) for arg in args] + [str(output)])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [f"Error: {output}: Not a directory"]


def test_a_chain_that_cannot_be_reached_says_how_to_reach_a_devnet():
    """A devnet's validators listen on ports they pick: the default URL finds nothing, after 30 s of retries."""
    line = error_line(ConnectionFailed("ws://127.0.0.1:9944/: All connection attempts failed"))
    assert line.startswith("ConnectionFailed: ws://127.0.0.1:9944/: All connection attempts failed. Is a node")
    assert "cairn devnet env" in line and RPC_ENVVAR in line and "\n" not in line
    assert error_line(BadArgument("not an SS58 address")) == "BadArgument: not an SS58 address"


@pytest.mark.parametrize("command", [["storage", "get", "0x" + "00" * 32], ["da", "get", "0x" + "00" * 32]])
def test_a_download_into_a_missing_folder_is_refused_before_the_chain_is_asked(tmp_path, command):
    """The missing folder was found at the last byte's write, and named the download's temporary file."""
    result = CliRunner().invoke(main, [*command, "-o", str(tmp_path / "missing" / "out"), "--rpc", "ws://127.0.0.1:9"])
    assert result.exit_code == 2 and f"{tmp_path / 'missing'}: no such folder" in result.stderr, result.output


@pytest.mark.parametrize("given, meant", [
    ("//Dave", Keypair.from_uri("//Dave").ss58_address()),
    ("//Provider1", Keypair.from_uri("//Provider1").ss58_address()),
    ("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"),
    ("0x" + "ab" * 32, "0x" + "ab" * 32),
    ("//Alice//stash", "//Alice//stash"), ("//Alice/soft", "//Alice/soft"), ("// Alice", "// Alice"),
])
def test_an_account_argument_names_a_development_account_by_its_name_and_nothing_else_by_a_secret(given, meant):
    """Anything but a bare ``//Name`` is left for the client to refuse as no address."""
    assert cli_account(given) == meant


def test_tables_show_what_the_chain_holds_as_text_never_as_markup(capsys):
    """A node's endpoint or a GPU's model is whatever its account registered: ``[/]`` in one ended every
    listing with rich's MarkupError, and ``[red]`` repainted the table."""
    from rich.table import Table

    from sdk.cli import stdout_console

    table = Table("node", "endpoint")
    table.add_row("1", "http://x[/]")
    table.add_row("2", "http://[red]y[/red]")
    stdout_console().print(table)
    shown = capsys.readouterr().out
    assert "http://x[/]" in shown and "http://[red]y[/red]" in shown


def test_da_submit_reads_a_path_naming_a_pipe_no_further_than_one_submission(tmp_path):
    """``cairn da submit /dev/stdin`` (or ``<(producer)``): its size reads 0, and it was read to its end, however
    long, before the bound was checked; now it is refused past the bound, before the chain is asked."""
    import os
    import threading

    from da_layer.blobs import USABLE_BYTES_PER_BLOB
    from sdk.da.config import DaConfig

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    limit = DaConfig().max_blobs * USABLE_BYTES_PER_BLOB

    def produce() -> None:
        try:
            with open(fifo, "wb") as pipe:
                pipe.write(bytes(limit + (1 << 20)))
        except BrokenPipeError:  # the reader stopped past the bound, as it should
            pass

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    result = CliRunner().invoke(main, ["da", "submit", str(fifo), "--rpc", "ws://127.0.0.1:9"])
    producer.join(timeout=30)
    if producer.is_alive():  # the command never opened the FIFO: its writer waits for a reader, so be one
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        producer.join()
    assert result.exit_code == 2 and f"has more than {limit} bytes" in result.output, result.output
