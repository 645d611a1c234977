"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` driven through ``chromedriver`` by
selenium) against a small real devnet started by :func:`devnet.launcher.up`.

One devnet serves the module (one validator, five storage nodes for the RS(3, 2) default code, two DA nodes,
two providers for a job of redundancy 2, the dashboard), on 1-second slots. The tests run in file order: a
training job is submitted when the devnet is up and judged while the earlier tests look at the chain, the
files and a blob, so the module waits for one job only once. Every test ends by checking the browser's
console: any error there (a failed request, an exception, a CSP refusal) fails it. A screenshot of each view
goes to ``test-artifacts/dashboard/<view>.png``.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trio

from compute_pallet import datasets
from devnet import launcher
from devnet.config import DevnetConfig
from devnet.dashboard.book import SampleBook
from devnet.dashboard.sampler import Sampler
from devnet.registry import ROLES
from devnet.state import DevnetState
from node.chain_spec import PRESET_PARAMS, preset
from runtime.cairn import runtime_params
from runtime.keyring import Keypair
from sdk.client import Client
from sdk.da.pool import KzgPool

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
if missing:
    pytest.skip(f"{' and '.join(missing)} not installed (Debian packages chromium and chromium-driver; "
                "./run-tests installs them where it may)", allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only once the browser is known to be there)
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.long(1.3)  # minutes, about: started early (tests/conftest.py)


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1440,1000")
"""The background-networking flags keep Chromium from calling out of this closed network at every start."""
COUNTS = {"validators": 1, "storage_nodes": 5, "da_nodes": 2, "providers": 2, "dashboard": 1}
SLOT_MS = 1000
PAGE_S = 60.0
"""Deadline for the page to show something the chain already has (a refresh is throttled to every 3 s)."""
JOB_S = 400.0
COMPUTE_JOBS = {"commit_period": 120, "reveal_period": 30}
"""The ``local`` preset's ComputeJobs windows are blocks: at 1-second slots its 10-block reveal left a provider
10 s to see its output uploads activated (finalized) and the commit phase final and then reveal, on a machine
also starting Chromium and the rest of the devnet; 30 s (and 2 min to fetch, train and commit) hold under load."""


@dataclass
class World:
    state: DevnetState
    url: str
    """The page."""
    rpc: str
    """validator-0's ws:// RPC, for the test's own client."""
    job: int
    dataset: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("dashboard-devnet")
    config = DevnetConfig.parse({"base_path": str(base), **{role: {"count": n} for role, n in COUNTS.items()}}, ROLES)
    params = {pallet: dict(values) for pallet, values in PRESET_PARAMS["local"].items()}
    params["ComputeJobs"] = {**params.get("ComputeJobs", {}), **COMPUTE_JOBS}
    spec = replace(preset("local", validators=1), slot_duration_ms=SLOT_MS, runtime=runtime_params(params))
    state = launcher.up(config, spec=spec, ready_timeout=120.0)
    try:
        rpc = state.process("validator-0").url("rpc", "ws")
        training, _ = datasets.split("digits")
        with Client(rpc, signer="//Alice") as alice:
            dataset = alice.storage.upload(training, private=False)
            job = alice.compute.submit("train", [dataset], {"hidden": [16], "epochs": 2}, redundancy=2)
        yield World(state, state.process("dashboard-0").url("http") + "/", rpc, job, hex_id(dataset))
    finally:
        launcher.down(base)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(world: World, browser: WebDriver) -> Iterator[WebDriver]:
    """The browser, checked after the test for console errors (what each test left in the log)."""
    yield browser
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"


def visit(driver: WebDriver, world: World, route: str) -> None:
    driver.get(f"{world.url}#{route}")
    wait(driver, lambda d: d.find_element(By.ID, "connection").get_attribute("class") == "connection up",
         "the page to connect to a validator")


def wait(driver: WebDriver, condition: Callable[[WebDriver], object], what: str, timeout: float = PAGE_S) -> object:
    def check(d: WebDriver) -> object:
        try:
            return condition(d)
        except (StaleElementReferenceException, IndexError):  # redrawn under the check, or not drawn yet
            return False
    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(check, f"timed out waiting for {what}")


def height(driver: WebDriver, element_id: str) -> int:
    text = driver.find_element(By.ID, element_id).text
    return int(text[1:]) if text.startswith("#") else -1


def screenshot(driver: WebDriver, view: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{view}.png"))


def hex_id(file_id: bytes) -> str:
    """A file id as the page shows it (the RPC's convention: 0x, lowercase)."""
    return "0x" + bytes(file_id).hex()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_live_heights_advance_and_a_block_shows_its_extrinsics_and_events(world: World, page: WebDriver):
    visit(page, world, "chain")
    wait(page, lambda d: height(d, "best") >= 0 and height(d, "finalized") >= 0, "heights")
    best, finalized = height(page, "best"), height(page, "finalized")
    wait(page, lambda d: height(d, "best") >= best + 2 and height(d, "finalized") >= finalized + 2,
         "both heights to advance by two blocks")
    # the list is redrawn on every head: find and click in one step, again if the row went stale meanwhile
    # (a row without a key is a head whose hash is still being asked for)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-panel=blocks] tbody tr.clickable[data-key]")[0].click()
         or True, "a block to click")
    wait(page, lambda d: "Extrinsics (" in d.find_element(By.CSS_SELECTOR, ".block-detail").text, "the block's detail")
    detail = page.find_element(By.CSS_SELECTOR, ".block-detail").text
    assert "Timestamp.set" in detail and "Events (" in detail
    timestamp = page.find_element(By.CSS_SELECTOR, ".block-detail tbody tr").find_elements(By.TAG_NAME, "td")
    assert timestamp[1].text == "Timestamp.set" and timestamp[3].text == "ok"
    # the row listed the block the chain has at its height, with the detail's count of extrinsics
    number = int(page.find_element(By.CSS_SELECTOR, ".block-detail dd").text)
    shown = int(detail.split("Extrinsics (", 1)[1].split(")", 1)[0])
    with Client(world.rpc) as client:
        block_hash = hex_id(client.get_block_hash(number))
    # its cells' texts read in the check, which is tried again if a new head redrew the row under it
    row = wait(page, lambda d: [cell.text for cell in d.find_elements(
        By.CSS_SELECTOR, f'[data-panel=blocks] tr[data-key="{block_hash}"] td')], "the block's row")
    assert row[0] == str(number) and row[2] == str(shown)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-panel=validators] tbody tr td .mono"), "the validator set")
    screenshot(page, "chain")


def test_the_block_list_replaces_blocks_a_reorg_took_away_and_an_unknown_outcome_is_shown_as_such(world: World,
                                                                                                    page: WebDriver):
    """The page's own modules, run in the page: a fork cannot be made on a one-validator devnet, nor an
    extrinsic whose outcome the node does not know, so the pieces that handle them are given such heads and
    extrinsics directly."""
    visit(page, world, "chain")
    found = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all([import("/js/blocks.js"), import("/js/views/chain.js")]).then(([blocks, chain]) => {
          const listed = new Map();
          const hashes = () => Object.fromEntries([...listed.values()].map((b) => [b.number, b.hash]));
          blocks.reconcile(listed, 5, "0x04");
          listed.get(5).hash = "0x05";
          blocks.reconcile(listed, 6, "0x05");
          const extended = hashes();
          blocks.reconcile(listed, 6, "0x5b");
          const reorged = hashes();
          blocks.reconcile(listed, 4, "0x03");
          const shorter = hashes();
          const outcomes = [[true, null], [false, "Balances.InsufficientBalance"], [null, null]].map(
            ([success, error]) => chain.outcome({ success, error }).textContent);
          done({ extended, reorged, shorter, outcomes });
        }, (error) => done(String(error)));
    """)
    assert found["extended"] == {"5": "0x05", "6": None}
    assert found["reorged"] == {"5": "0x5b", "6": None}  # both heights replaced: the hash of 6 is asked for
    assert found["shorter"] == {"4": None}
    assert found["outcomes"] == ["ok", "failed Balances.InsufficientBalance", "unknown"]


def test_an_uploaded_file_appears_with_its_health(world: World, page: WebDriver):
    with Client(world.rpc, signer="//Bob") as bob:
        file_id = hex_id(bob.storage.upload(b"dashboard test file " * 1000, private=True))
    visit(page, world, "storage")
    row = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{file_id}"]'), "the uploaded file")[0]
    assert "private" in row.text and "/" in row.text  # healthy/total fragments
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-panel=storage-nodes] tbody tr")) == 5, "five storage nodes")
    screenshot(page, "storage")


def test_a_published_blob_is_attested_and_sampled_by_the_dashboard(world: World, page: WebDriver):
    with Client(world.rpc, signer="//Charlie") as charlie:
        (ref,) = charlie.da.submit(b"a blob for the dashboard " * 400)
    blob = str(ref)
    visit(page, world, "da")
    wait(page, lambda d: "cells verified" in "".join(
        row.text for row in d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{blob}"]')), "the blob's sampled confidence")
    sampled = get_json(f"{world.url}v1/sampling?blob={blob}")
    assert sampled["available"] is True and sampled["verified"] == sampled["samples"] == 20
    row = page.find_element(By.CSS_SELECTOR, f'tr[data-key="{blob}"]').text
    assert "99.999905% (20/20 cells verified)" in row, row  # 1 - 2^-20, to six decimals
    screenshot(page, "da")


def test_the_sampler_records_a_broken_kzg_pool_as_the_blobs_error_and_goes_on(world: World):
    """A KZG pool whose workers cannot start (an unknown precompute level) fails every verification with
    ``WorkersDied`` (it once raised ``BrokenProcessPool``, an unexpected error): the blob shows that error and
    the sampler keeps following the chain (in the daemon it runs beside the HTTP server, which it must not take
    down). Needs the blob the test above published."""
    book = SampleBook(limit=1, attempts=1)

    async def sample_with_a_broken_pool() -> int:
        with KzgPool(1, precompute=-1) as broken:
            sampler = Sampler([world.rpc], book, broken)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sampler.run)
                with trio.fail_after(PAGE_S):
                    while not any(entry.state == "error" for entry in book.entries()):
                        await trio.sleep(0.5)
                    after = sampler.finalized or 0
                    while (sampler.finalized or 0) <= after:
                        await trio.sleep(0.5)
                nursery.cancel_scope.cancel()
                return after

    assert trio.run(sample_with_a_broken_pool) > 0
    (entry,) = book.entries()
    assert entry.state == "error" and entry.error.startswith("the KZG worker processes ended abruptly")


def test_a_jobs_verdict_and_payments_appear(world: World, page: WebDriver):
    with Client(world.rpc) as client:
        status = client.compute.wait(world.job, timeout=JOB_S)
        assert status.state == "Verified", status
        verdict = client.rpc_request("compute_job", [world.job])["verdict"]
    visit(page, world, "compute")
    cell = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{world.job}"] .verdict'),
                "the job's verdict")[0]
    assert cell.get_attribute("data-verdict") == verdict
    assert "verified" in page.find_element(By.CSS_SELECTOR, f'tr[data-key="{world.job}"]').text.lower()
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-panel=providers] tbody tr")) == 2, "two providers")
    screenshot(page, "compute")


def test_a_federated_task_and_its_rounds_appear(world: World, page: WebDriver):
    """A task on the trained model, which Bob joins; its rounds are not run (that is a job per round)."""
    with Client(world.rpc, signer="//Alice") as alice:
        model = alice.compute.wait(world.job, timeout=JOB_S).outputs[0]
        task = alice.fl.create_task(model, rounds=2, participants=[Keypair.from_uri("//Bob").public],
                                    stake=alice.get_constant("FederatedLearning", "MinStake"), commit_period=1000,
                                    deliver_period=20, reward_pool=10**12, price_cap=2 * 10**12)
    # Its rounds outlast the module (1-second slots): Bob's stake stays held for the account test below.
    with Client(world.rpc, signer="//Bob") as bob:
        bob.fl.join(task)
    visit(page, world, "fl")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{task}"]')[0].click() or True, "the task")
    wait(page, lambda d: "Round 1" in d.find_element(By.CSS_SELECTOR, "[data-panel=rounds]").text, "its rounds")
    assert "1 of 2" in page.find_element(By.CSS_SELECTOR, f'tr[data-key="{task}"]').text  # the first of two
    screenshot(page, "fl")


def test_the_models_lineage_is_drawn_and_a_file_walks_back(world: World, page: WebDriver):
    with Client(world.rpc) as client:
        model = hex_id(client.compute.wait(world.job, timeout=JOB_S).outputs[0])
    visit(page, world, "compute")
    link = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{world.job}"] a[data-file]'),
                "the job's file links")
    outputs = [a for a in link if a.get_attribute("data-file") == model]
    assert outputs, "the job's output is linked"
    outputs[0].click()
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg.lineage-graph g.node")) >= 3, "the lineage graph")
    kinds = {node.get_attribute("class") for node in page.find_elements(By.CSS_SELECTOR, "svg.lineage-graph g.node")}
    assert any("node-job" in kind for kind in kinds) and any("root" in kind for kind in kinds)
    assert page.find_elements(By.CSS_SELECTOR, "svg.lineage-graph g.edge path")
    screenshot(page, "lineage")
    page.find_element(By.CSS_SELECTOR, f'svg.lineage-graph g.node[data-id="{world.dataset}"]').click()
    wait(page, lambda d: d.current_url.endswith(f"#lineage/{world.dataset}") and len(
        d.find_elements(By.CSS_SELECTOR, "svg.lineage-graph g.node")) == 1, "the dataset's own (upload-only) lineage")
    assert "no verified job or federated round made this file" in page.find_element(By.ID, "view").text


def test_an_account_links_to_its_balance_and_what_holds_it(world: World, page: WebDriver):
    """A provider's account, clicked in the providers table, shows its stake as a hold; Bob, who uploaded a
    private file and joined the federated task above, shows both of those holds by their pallets and reasons."""
    visit(page, world, "compute")
    link = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-panel=providers] a[data-account]"),
                "a provider's account link")[0]
    provider = link.get_attribute("data-account")
    link.click()
    wait(page, lambda d: d.current_url.endswith(f"#account/{provider}") and "ProviderStake" in d.find_element(
        By.CSS_SELECTOR, "[data-panel=account]").text, "the provider's stake as a hold")
    bob = Keypair.from_uri("//Bob").ss58_address()
    with Client(world.rpc) as client:
        held = {(hold["pallet"], hold["reason"]) for hold in client.rpc_request("explorer_account", [bob])["holds"]}
    assert {("FileBank", "FileDeposit"), ("FederatedLearning", "ParticipantStake")} <= held
    visit(page, world, f"account/{bob}")

    def bobs_holds(d: WebDriver) -> list[str] | None:
        panel = d.find_element(By.CSS_SELECTOR, "[data-panel=account]")
        rows = [row.text for row in panel.find_elements(By.CSS_SELECTOR, "tbody tr")]
        free = panel.find_element(By.CSS_SELECTOR, "[data-field=free]").text
        return rows if any(row.startswith("FederatedLearning ParticipantStake") for row in rows) and free.endswith(
            " CAIRN") else None

    rows = wait(page, bobs_holds, "Bob's holds")
    assert any(row.startswith("FileBank FileDeposit") for row in rows), rows
    screenshot(page, "account")
    visit(page, world, "account/5Foo")
    wait(page, lambda d: "an account is an SS58 address" in d.find_element(
        By.CSS_SELECTOR, "[data-panel=account]").text, "an address that names no account refused on the page")
    page.get(f"{world.url}#account/%")  # a malformed escape, in the link the page is loaded with
    page.refresh()
    visit(page, world, "account/%")  # it still connects (the link once stopped it for good)
    wait(page, lambda d: "%: an account is an SS58 address" in d.find_element(
        By.CSS_SELECTOR, "[data-panel=account]").text, "a malformed link refused on the page")


def test_the_page_and_the_sampler_leave_a_stalled_validator_and_follow_it_again_once_it_resumes(world: World,
                                                                                                 page: WebDriver):
    """Last: it stops the devnet's only validator (SIGSTOP: its sockets stay open and nothing answers on them,
    so no connection closes) long enough for the page and the sampler to give up on it by their deadlines.
    While it is stopped the browser logs the WebSocket attempts it abandons (the only console errors allowed
    here); once it resumes both follow the chain again."""
    visit(page, world, "chain")
    finalized = get_json(f"{world.url}v1/health")["finalized"]
    base = Path(world.state.base_path)
    launcher.kill(launcher.load(base), "validator-0", signal.SIGSTOP)
    try:
        wait(page, lambda d: d.find_element(By.ID, "connection").get_attribute("class") == "connection down",
             "the page to leave the silent validator")
        wait(page, lambda d: get_json(f"{world.url}v1/health")["chain"] is None,
             "the sampler to leave the stalled validator (and live on to try again)")
    finally:
        launcher.kill(launcher.load(base), "validator-0", signal.SIGCONT)
    best = height(page, "best")
    wait(page, lambda d: d.find_element(By.ID, "connection").get_attribute("class") == "connection up"
         and height(d, "best") > best, "the page to reconnect and follow new heads", timeout=120)
    wait(page, lambda d: (get_json(f"{world.url}v1/health")["finalized"] or 0) > finalized,
         "the sampler to follow finalized heads again", timeout=120)
    errors = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert all("WebSocket connection to" in entry["message"] for entry in errors), errors
