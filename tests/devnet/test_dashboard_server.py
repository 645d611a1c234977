"""The dashboard daemon's parts without a chain: its HTTP API served on a real port, the sampling book's
bounds, the check of what ``da_blobs`` answers, and the role's command line.

The page itself and the sampler against a real devnet are in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import click
import httpx
import pytest

from devnet.config import ConfigError, DevnetConfig
from devnet.dashboard.book import SampleBook
from devnet.dashboard.cli import websocket_url
from devnet.dashboard.role import DASHBOARD
from devnet.dashboard.sampler import SamplerSettings, available_blobs
from devnet.dashboard.server import DashboardApi, load_static
from devnet.registry import ROLES
from devnet.role import Launch, ProcessPaths
from devnet.state import ProcessRecord
from node.chain_spec import preset
from sdk.da.types import BlobRef, SampleReport
from sdk.serving import serve

RPC = ["ws://127.0.0.1:9944", "ws://127.0.0.1:9945"]


def blob(n: int) -> str:
    return "0x" + f"{n:064x}"


def report(n: int, failed: tuple[int, ...] = ()) -> SampleReport:
    return SampleReport(BlobRef(bytes.fromhex(blob(n)[2:])), not failed, 0.0 if failed else 1 - 2**-20, 20,
                        20 - len(failed), failed, b"\x11" * 32)


@pytest.fixture
async def api(nursery):
    book = SampleBook(limit=3)
    app = DashboardApi(load_static(), {"rpc": RPC}, book, lambda: {"status": "ok", "sampled": 0})
    port = await nursery.start(serve, app, "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client, book


async def test_the_page_and_its_modules_are_served_with_a_policy_that_allows_only_its_own_files(api):
    client, _ = api
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"] and '<main id="view">' in page.text
    script = await client.get("/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (await client.get("/js/views/lineage.js")).status_code == 200
    assert (await client.head("/style.css")).content == b""


def test_every_module_the_page_imports_is_in_the_package():
    static = load_static()
    imports = 0
    for name, file in static.items():
        if name.endswith(".js"):
            for target in re.findall(r'from "(\.{1,2}/[^"]+)"', file.body.decode()):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                assert resolved in static, f"{name} imports {target}, not in the package"
                imports += 1
    assert imports >= 10  # app.js imports every view, the views the shared modules


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/js/../../cli.py", "/cli.py", "/v1/nope", "/static/app.js"])
async def test_a_path_outside_the_page_is_404_and_names_nothing_on_disk(api, path):
    client, _ = api
    response = await client.get(path)
    assert response.status_code == 404 and response.json()["error"] == "NotFound"


async def test_only_get_is_served(api):
    client, _ = api
    for method, path in (("POST", "/"), ("PUT", "/v1/sampling"), ("DELETE", "/app.js")):
        response = await client.request(method, path)
        assert response.status_code == 405 and response.json()["error"] == "MethodNotAllowed"


async def test_config_names_the_validators_and_health_answers(api):
    client, _ = api
    assert (await client.get("/v1/config")).json() == {"rpc": RPC}
    assert (await client.get("/v1/health")).json()["status"] == "ok"


async def test_sampling_lists_the_followed_blobs_newest_first_and_one_by_id(api):
    client, book = api
    assert (await client.get("/v1/sampling")).json() == {"limit": 3, "blobs": []}
    book.update([blob(3), blob(2), blob(1)])
    book.record(blob(2), report(2))
    book.record(blob(1), report(1, failed=(7, 9)))
    listed = (await client.get("/v1/sampling")).json()["blobs"]
    assert [entry["blob"] for entry in listed] == [blob(3), blob(2), blob(1)]
    assert [entry["state"] for entry in listed] == ["pending", "sampled", "sampled"]
    one = (await client.get("/v1/sampling", params={"blob": blob(2).upper().replace("0X", "0x")})).json()
    assert one["available"] is True and one["verified"] == 20 and one["finalizedBlock"] == "0x" + "11" * 32
    bad = (await client.get("/v1/sampling", params={"blob": blob(1)})).json()
    assert bad["available"] is False and bad["confidence"] == 0.0 and bad["failedCells"] == [7, 9]


@pytest.mark.parametrize("query, status", [
    ("blob=0x1234", 400),
    ("blob=" + "zz" * 33, 400),
    ("blob=" + blob(1) + "&blob=" + blob(2), 400),
    ("limit=5", 400),
    ("blob", 400),
    ("blob=" + blob(1) + "&x=" + "a" * 300, 400),
    ("blob=" + blob(99), 404),
])
async def test_a_bad_sampling_query_is_refused_with_a_reason(api, query, status):
    client, _ = api
    response = await client.get("/v1/sampling?" + query)
    assert response.status_code == status
    assert response.json()["error"] == ("Malformed" if status == 400 else "NotFound") and response.json()["message"]


def test_the_book_follows_only_the_newest_blobs_and_forgets_the_rest():
    book = SampleBook(limit=2)
    assert book.update([blob(5), blob(4), blob(3)]) == [blob(5), blob(4)]
    book.record(blob(5), report(5))
    assert book.update([blob(6), blob(5), blob(4)]) == [blob(6)]  # 5 is sampled; 4 fell out of the window
    assert [entry.blob for entry in book.entries()] == [blob(6), blob(5)] and book.get(blob(4)) is None
    book.record(blob(4), report(4))  # a sampling that ends after its blob left: dropped, not re-added
    assert len(book.entries()) == 2


def test_a_failed_sampling_is_tried_again_a_bounded_number_of_times_and_a_finished_one_never():
    book = SampleBook(limit=4, attempts=2)
    book.update([blob(1), blob(2)])
    book.record(blob(1), report(1, failed=(3,)))  # found unavailable: a result, not retried
    book.record_error(blob(2), "finality late")
    assert book.update([blob(1), blob(2)]) == [blob(2)]
    book.record_error(blob(2), "finality late")
    assert book.update([blob(1), blob(2)]) == []
    entry = book.get(blob(2))
    assert entry.state == "error" and entry.attempts == 2 and entry.error == "finality late"
    with pytest.raises(ValueError):
        SampleBook(limit=0)


def test_available_blobs_keeps_the_available_in_order_and_refuses_a_malformed_answer():
    page = {"items": [{"id": blob(3), "state": "available"}, {"id": blob(2), "state": "pending"},
                      {"id": blob(1).upper().replace("0X", "0x"), "state": "available"}], "next": None}
    assert available_blobs(page) == [blob(3), blob(1)]
    for bad in (None, [], {"items": None}, {"items": [{"state": "available"}]},
                {"items": [{"id": "0x12", "state": "available"}]}, {"items": ["x"]}):
        with pytest.raises(ValueError):
            available_blobs(bad)


@pytest.mark.parametrize("bad", [{"samples": 0}, {"scan": 0}, {"timeout_s": 0.0}, {"stall_blocks": 0}])
def test_sampler_settings_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match="out of range"):
        SamplerSettings(**bad)


def test_a_chain_url_becomes_the_websocket_the_page_opens():
    assert websocket_url("http://127.0.0.1:9944") == "ws://127.0.0.1:9944"
    assert websocket_url("ws://127.0.0.1:9944") == "ws://127.0.0.1:9944"
    for bad in ("ftp://127.0.0.1:1", "127.0.0.1:9944", "http://", "http://[::1", "ws://127.0.0.1:99999"):
        with pytest.raises(click.BadParameter):
            websocket_url(bad)


def _launch(started: tuple[ProcessRecord, ...]) -> Launch:
    spec = preset("local", validators=2)
    return Launch(DevnetConfig.parse({}, ROLES), spec, Path("spec.json"), started)


def _validator(index: int, port: int) -> ProcessRecord:
    return ProcessRecord(f"validator-{index}", "validator", index, 1, 1, {"rpc": port}, (), "d", "l")


def test_the_role_gives_the_dashboard_every_validator_and_starts_last(tmp_path):
    assert ROLES[-1] is DASHBOARD and DASHBOARD.default_count == 1
    paths = ProcessPaths(tmp_path / "dashboard-0", tmp_path / "dashboard-0.log")
    argv = DASHBOARD.command(_launch((_validator(0, 9944), _validator(1, 9945))), 0, {"http": 0}, paths)
    assert argv[1:] == ["-m", "devnet.dashboard", "--chain-rpc", "http://127.0.0.1:9944", "http://127.0.0.1:9945",
                        "--base-path", str(paths.data), "--http-port", "0"]
    with pytest.raises(ConfigError):
        DASHBOARD.command(_launch(()), 0, {"http": 0}, paths)
