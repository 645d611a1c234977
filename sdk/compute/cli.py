"""``cairn compute`` and ``cairn fl``: the compute market and federated learning from the command line.

    cairn compute providers [--json]                  # hardware, offers, stake, liveness, reputation
    cairn compute leave --key OPERATOR                # a provider leaves, once no job of it is in flight
    cairn compute submit --kind train --input FID [--input FID ...] [--param hidden=64 ...]
                         [--redundancy 2] [--max-price AMOUNT] [--deadline BLOCKS] [--wait] [--json]
    cairn compute status JOB [--json]                 # phase, slots and verdicts, outputs, payments
    cairn compute wait JOB [--timeout S] [--json]     # until verified or failed, granting new providers
    cairn compute result JOB -o DIR [--json]          # the verified outputs, checked against the digest
    cairn compute outputs JOB                         # the verified output file ids, one per line
    cairn compute rerun JOB -o DIR [--json]           # the kind run here; its digest against the verdict
    cairn compute lineage FID [--json]                # the graph back to the data, jobs and contributors
    cairn compute dataset digits -o DIR [--shards N]  # a bundled dataset: train.npz, held-out.npz, shard-<i>.npz

    cairn fl create BASE_MODEL --rounds N --stake AMOUNT --commit-period B --deliver-period B
                    --reward-pool AMOUNT --price-cap AMOUNT [--participant ACCOUNT ...] [--validation FID]
                    [--redundancy 2] [--aggregation name=value ...]
    cairn fl join TASK
    cairn fl participate TASK --data local.npz [--rounds N] [--param name=value ...]
    cairn fl status TASK [--json]
    cairn fl model TASK                               # the global model's file id

Every command takes ``--rpc`` and ``--key`` as ``cairn storage`` does, and an AMOUNT as tokens (``2.5CAIRN``) or base
units; amounts print as tokens. ``submit`` prints the job id as the last
line of stdout (and ``create`` the task id); with ``--json`` stdout is one JSON document instead (the job's
status, holding its ``job_id``). Progress goes to stderr through ``rich``; errors exit with status 1 and one
line on stderr, and so does a job ``wait`` or ``submit --wait`` saw fail (its id or status still printed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import click
from rich.console import Console
from rich.table import Table

from compute_pallet import datasets
from compute_pallet.formats import FormatError
from compute_pallet.kinds import InvalidInputs, refusal_meaning
from sdk.cli import AMOUNT, amount_units, chain_options, cli_account, shown_account, stdout_console, user_client
from sdk.compute.errors import InvalidParams, Refused, UnknownKind
from sdk.compute.fl import RoundProgress
from sdk.compute.jobs import build_params, params_from_args
from sdk.compute.records import JobResult, JobStatus, Lineage, Provider, Rerun, TaskStatus
from sdk.peer_text import peer_text
from sdk.storage.records import Record

if TYPE_CHECKING:
    from sdk.account import Token
    from sdk.client import Client

__all__ = ["compute", "fl"]

R = TypeVar("R", bound=Record)

STAGE_NOTES = {"missed": "missed: the commit window closed before the update was ready (nothing of it was stored)",
               "late": "late: the upload outlasted the delivery window (slashed as a no-show; the update deleted)"}
"""How ``fl participate`` shows a round's stage where its name alone would leave the participant guessing."""


def _report(record: R, as_json: bool, show: Callable[[R], None]) -> None:
    """``record`` as JSON on stdout, or as ``show`` puts it for people."""
    if as_json:
        click.echo(json.dumps(record.to_json(), indent=2))
    else:
        show(record)


def _short(value: bytes | None) -> str:
    """A digest or file id, shortened for a table."""
    return "-" if value is None else "0x" + value.hex()[:16] + "…"


def _params(kind: str, pairs: tuple[str, ...], option: str = "--param") -> dict[str, object]:
    """The ``name=value`` pairs of ``option`` as ``kind``'s params; a usage error, told before connecting."""
    try:
        params = params_from_args(kind, pairs)
        build_params(kind, params)  # the kind's own check of the values
        return params
    except UnknownKind as exc:
        raise click.BadParameter(str(exc), param_hint="'--kind'") from None
    except InvalidParams as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _show_job(status: JobStatus, token: Token) -> None:
    console = stdout_console()
    console.print(f"job {status.job_id}  {status.kind}  {status.state}  round {status.round}  "
                  f"deadline {status.deadline}  params {status.params}")
    console.print(f"escrowed {token.format(status.escrowed)}  paid {token.format(status.paid)}  "
                  f"refunded {token.format(status.refunded)}  held {token.format(status.held)}")
    table = Table("provider", "round", "status", "price", "digest")
    for slot in status.slots:
        table.add_row(shown_account(slot.provider, short=True), str(slot.round), slot.status, token.format(slot.price),
                      _short(slot.digest))
    console.print(table)
    for file_id in status.outputs:
        console.print(f"output 0x{file_id.hex()}")
    if status.refused is not None:
        _tell_refusal(status.job_id, status.refused)


@click.group()
def compute() -> None:
    """Run jobs on the compute market and trace models back to their data."""


@compute.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def providers(rpc: str, key: str, as_json: bool) -> None:
    """The registered providers: hardware, offers, stake, liveness and reputation."""
    with user_client(rpc, key) as client:
        found = client.compute.providers()
        token = client.account.token()
    if as_json:
        click.echo(json.dumps([p.to_json() for p in found], indent=2))
    else:
        _show_providers(found, token)


def _show_providers(found: list[Provider], token: Token) -> None:
    table = Table("account", "cores", "memory MiB", "gpu", "offers", "stake", "heartbeat", "active", "verified",
                  "lost", "no-shows", "reputation")
    for p in found:
        table.add_row(shown_account(p.account, short=True), str(p.cpu_cores), str(p.memory_mib), p.gpu or "-",
                      ", ".join(f"{kind} {token.format(price)}" for kind, price in p.offers.items()),
                      token.format(p.stake),
                      str(p.last_heartbeat), f"{p.active_jobs} (leaving)" if p.leaving else str(p.active_jobs),
                      str(p.jobs_verified), str(p.disputes_lost),
                      str(p.no_shows), str(p.reputation))
    stdout_console().print(table)


@compute.command()
@click.option("--kind", required=True, help="The job kind: train, evaluate, infer or fedavg.")
@click.option("--input", "inputs", multiple=True, required=True, help="An input file id, in the kind's order.")
@click.option("--param", "params", multiple=True, help="A parameter, name=value (value read as JSON).")
@click.option("--redundancy", type=click.IntRange(1, 255), default=2, show_default=True,
              help="Providers that run the job.")
@click.option("--max-price", type=AMOUNT, default=None, help="Price cap per provider, 2.5CAIRN or units (default: "
              "enough for the first round and a dispute among today's offers).")
@click.option("--deadline", type=click.IntRange(min=1), default=None,
              help="Blocks from now to verify the job (default: from the kind's estimate).")
@click.option("--wait", "wait_", is_flag=True, help="Wait until the job is verified or failed.")
@click.option("--json", "as_json", is_flag=True, help="Print the job's status as JSON instead of its id.")
@chain_options
def submit(rpc: str, key: str, kind: str, inputs: tuple[str, ...], params: tuple[str, ...], redundancy: int,
           max_price: str | None, deadline: int | None, wait_: bool, as_json: bool) -> None:
    """Submit a job; prints its id as the last line of stdout."""
    taken: list[int] = []
    parsed = _params(kind, params) if params else None  # a typo is told before connecting
    try:
        with user_client(rpc, key) as client:
            token = client.account.token()
            cap = None if max_price is None else amount_units(client, max_price, "'--max-price'")
            job = client.compute.submit(kind, list(inputs), parsed,
                                        redundancy=redundancy, max_price=cap, deadline=deadline,
                                        submitted=taken.append)
            status = _verdict(client, job, None, "submitted, ") if wait_ else client.compute.status(job)
    except BaseException:  # an error or Ctrl-C once the chain has the job: its id was to be printed last
        if taken:
            click.echo(f"job {taken[0]} was submitted, its escrow held: `cairn compute wait {taken[0]}` follows it "
                       "and grants its providers the private inputs they still lack", err=True)
        raise
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2))
    else:
        if wait_:
            _print_verdict(status, token)
        click.echo(str(job))
    if wait_:
        _exit_if_failed(status)


@compute.command()
@chain_options
def leave(rpc: str, key: str) -> None:
    """Take the provider of --key off the market: deregistered at once, its stake released, if it has no job
    in flight; else it takes no new job and is deregistered when those it holds are settled (keep its daemon
    running until then)."""
    with user_client(rpc, key) as client:
        departure = client.compute.leave()
        address = client.signer.ss58_address()
        token = client.account.token()
    if departure.left:
        click.echo(f"{address}: left the market, {token.format(departure.released)} of its stake released")
    else:
        click.echo(f"{address}: leaving the market: it takes no new job, and is deregistered when its "
                   f"{departure.active_jobs} job(s) in flight are settled; keep its daemon running until then "
                   "(`cairn compute stay` takes the leave back meanwhile)")


_STAY_REFUSED = {
    "NotRegistered": "it is no provider: it has left the market (its last job settled, its stake released) or "
                     "never joined; starting its daemon registers it again",
    "NotLeaving": "it is not leaving the market: it takes new jobs already",
}
"""What ``cairn compute stay`` says of the chain's refusals, in the terms of a leave."""


@compute.command()
@chain_options
def stay(rpc: str, key: str) -> None:
    """Take back the leave of the provider of --key while it drains: it takes new jobs again."""
    with user_client(rpc, key) as client:
        address = client.signer.ss58_address()
        try:
            client.compute.stay()
        except Refused as exc:
            why = _STAY_REFUSED.get(exc.failure.name if exc.failure else "")
            if why is None:
                raise
            raise click.ClickException(f"{address}: ComputeProviders.{exc.failure.name}: {why}") from None
        mine = client.query("ComputeProviders", "Providers", [client.signer.public])
        min_stake = client.get_constant("ComputeProviders", "MinStake")
        fresh = mine.is_fresh(client.get_block_header().number,
                              client.get_constant("ComputeProviders", "HeartbeatTimeout"))
        token = client.account.token()
    if mine.stake < min_stake:
        click.echo(f"{address}: stays on the market, but takes no new job until its stake ({token.format(mine.stake)}) "
                   f"is back at the chain's minimum ({token.format(min_stake)}): its daemon tops it up to its --stake")
    elif not fresh:
        click.echo(f"{address}: stays on the market, but takes no new job until it heartbeats again: is its daemon "
                   "running?")
    else:
        click.echo(f"{address}: stays on the market: it takes new jobs again")


@compute.command()
@click.argument("job", type=click.IntRange(min=0))
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds to wait at most (then exit 1; the job goes on).")
@click.option("--json", "as_json", is_flag=True, help="Print the job's status as JSON.")
@chain_options
def wait(rpc: str, key: str, job: int, timeout: float | None, as_json: bool) -> None:
    """Wait until JOB is verified or failed (exit 1), as ``submit --wait`` does: providers assigned meanwhile (a
    no-show's replacement, a dispute's extra providers) are granted the signer's private inputs, which only a
    waiting submitter can do."""
    with user_client(rpc, key) as client:
        status = _verdict(client, job, timeout)
        token = client.account.token()
    _report(status, as_json, lambda record: _print_verdict(record, token))
    _exit_if_failed(status)


def _verdict(client: "Client", job: int, timeout: float | None, doing: str = "") -> JobStatus:
    with Console(stderr=True).status(f"job {job} {doing}waiting for its verdict"):
        return client.compute.wait(job, timeout)


def _print_verdict(status: JobStatus, token: Token) -> None:
    Console(stderr=True).print(f"job {status.job_id}: {status.state}, paid {token.format(status.paid)}, "
                               f"refunded {token.format(status.refunded)}")
    if status.refused is not None:
        _tell_refusal(status.job_id, status.refused)


def _tell_refusal(job: int, refused: str) -> None:
    """Say what a refusal means; ``refused`` may come from a result file a provider wrote (shown escaped)."""
    meaning = refusal_meaning(refused) or "a refusal this client does not know"
    click.echo(f"job {job}: its kind refused the inputs or params ({peer_text(refused)}: {meaning}); that is its "
               f"verified result, and the providers were paid for it. `cairn compute rerun {job} -o DIR` runs it "
               "here and says why.", err=True)


def _exit_if_failed(status: JobStatus) -> None:
    """Exit 1 after a waited-for job failed, so that ``cairn compute wait 7 && cairn compute result 7 …`` stops."""
    if status.state != "Verified":
        raise SystemExit(1)


@compute.command()
@click.argument("job", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def status(rpc: str, key: str, job: int, as_json: bool) -> None:
    """A job's phase, slots and verdicts, verified outputs and payments."""
    with user_client(rpc, key) as client:
        found, token = client.compute.status(job), client.account.token()
    _report(found, as_json, lambda record: _show_job(record, token))


def _job_to_folder(folder: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The arguments of a command that writes a job's files: JOB, ``-o`` (``folder`` says what goes there),
    ``--json`` and the chain options."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        command = chain_options(command)
        command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
        command = click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
                               help=folder)(command)
        return click.argument("job", type=click.IntRange(min=0))(command)

    return decorate


@compute.command()
@_job_to_folder("The folder to write the outputs into.")
def result(rpc: str, key: str, job: int, output: Path, as_json: bool) -> None:
    """Download a verified job's outputs (checked against its digest) into a folder."""
    with user_client(rpc, key) as client:
        _report(client.compute.result(job, output), as_json, _show_paths)


def _show_paths(result: JobResult) -> None:
    for path in result.files:
        click.echo(path)
    if isinstance(refused := result.result.get("refused"), str):
        _tell_refusal(result.job_id, refused)


@compute.command()
@_job_to_folder("The folder to write this run's outputs into.")
def rerun(rpc: str, key: str, job: int, output: Path, as_json: bool) -> None:
    """Run a job's kind here on its inputs, params and seed, trusting no provider: writes the outputs, says why
    the kind refused the inputs or params if it did, and compares the digest with the verified one (exit 1 if
    they differ)."""
    with user_client(rpc, key) as client, Console(stderr=True).status(f"job {job}: running its kind here"):
        try:
            check = client.compute.rerun(job, output)
        except MemoryError:
            raise click.ClickException(f"job {job}: running its kind ran out of this machine's memory") from None
    _report(check, as_json, _show_rerun)
    if check.verified is not None and not check.matches:
        raise click.ClickException(
            f"job {job}: this run's digest 0x{check.digest.hex()} is not the verified 0x{check.verified.hex()}"
            + (" (a GPU job: the providers' CuPy flushes float32 subnormals to zero, numpy here does not; where a "
               "subnormal decided the run, honest digests differ)" if check.gpu else ""))


def _show_rerun(check: Rerun) -> None:
    for path in check.files:
        click.echo(path)
    if check.refused is not None:
        click.echo(f"job {check.job_id}: the kind refuses these inputs or params: {check.refused}", err=True)
    if check.verified is None:
        click.echo(f"job {check.job_id}: digest 0x{check.digest.hex()}; the job has no verified result to compare "
                   "it with", err=True)
    elif check.matches:
        click.echo(f"job {check.job_id}: digest 0x{check.digest.hex()}, the verified result's", err=True)
    named = ", ".join(shown_account(provider) for provider in check.agreeing) or "none"
    click.echo(f"job {check.job_id}: providers who revealed this run's result: {named}", err=True)


@compute.command()
@click.argument("job", type=click.IntRange(min=0))
@chain_options
def outputs(rpc: str, key: str, job: int) -> None:
    """A verified job's output file ids, one per line: the kind's outputs in name order, then result.json."""
    with user_client(rpc, key) as client:
        status = client.compute.status(job)
    if not status.outputs:
        raise click.ClickException(f"job {job} has no verified outputs ({status.state})")
    for file_id in status.outputs:
        click.echo(f"0x{file_id.hex()}")


@compute.command()
@click.argument("name", type=click.Choice(datasets.NAMES))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder to write train.npz and held-out.npz (and the shards) into.")
@click.option("--shards", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Also cut train.npz into this many disjoint shard-<i>.npz (federated participants' local data).")
def dataset(name: str, output: Path, shards: int) -> None:
    """Write a dataset bundled with scikit-learn in the market's format, split into training and held-out
    parts by a fixed permutation (the same on every machine); prints the paths written."""
    training, held_out = datasets.split(name)
    files = {"train.npz": training, "held-out.npz": held_out}
    files.update({f"shard-{i}.npz": datasets.shard(training, i, shards) for i in range(shards)})
    output.mkdir(parents=True, exist_ok=True)
    for file_name, data in files.items():
        (output / file_name).write_bytes(data)
        click.echo(output / file_name)


@compute.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (nodes and edges).")
@chain_options
def lineage(rpc: str, key: str, file_id: str, as_json: bool) -> None:
    """Where a file came from: the jobs, inputs, federated rounds and contributors behind it."""
    with user_client(rpc, key) as client:
        _report(client.compute.lineage(file_id), as_json, _show_lineage)


def _show_lineage(graph: Lineage) -> None:
    console = stdout_console()
    if not graph.edges:
        console.print(f"file 0x{graph.root.hex()}: no verified job or federated round made it (an upload), so it "
                      "has no lineage before it")
        return
    nodes = Table("node", "label")
    for node in graph.nodes:
        nodes.add_row(_shown_node(node.id), node.label)
    console.print(nodes)
    edges = Table("from", "relation", "to")
    for edge in graph.edges:
        edges.add_row(_shown_node(edge.source), edge.relation, _shown_node(edge.target))
    console.print(edges)


def _shown_node(node_id: str) -> str:
    """A lineage node's id for people: an account's by its SS58 address (the JSON keeps ``account:0x…``)."""
    kind, _, value = node_id.partition(":0x")
    return f"account:{shown_account(bytes.fromhex(value))}" if kind == "account" else node_id


# --- cairn fl ----------------------------------------------------------------------------------------


@click.group()
def fl() -> None:
    """Federated learning: open a task, take part in its rounds, follow it."""


@fl.command()
@click.argument("base_model")
@click.option("--rounds", type=click.IntRange(min=1), required=True)
@click.option("--stake", type=AMOUNT, required=True, help="What each participant holds (2.5CAIRN, or units).")
@click.option("--commit-period", type=click.IntRange(min=1), required=True, help="Blocks to commit an update.")
@click.option("--deliver-period", type=click.IntRange(min=1), required=True, help="Blocks to deliver it after.")
@click.option("--reward-pool", type=AMOUNT, required=True, help="Shared by contribution (2.5CAIRN, or units).")
@click.option("--price-cap", type=AMOUNT, required=True, help="Per provider of each aggregation (2.5CAIRN, or units).")
@click.option("--participant", "participants", multiple=True,
              help="A listed participant: an SS58 address, 0x hex or a development account's //Name (none: anyone).")
@click.option("--validation", default=None, help="A dataset file id scoring the updates.")
@click.option("--redundancy", type=click.IntRange(2, 255), default=2, show_default=True)
@click.option("--aggregation", "aggregation", multiple=True, help="A fedavg parameter, name=value.")
@chain_options
def create(rpc: str, key: str, base_model: str, rounds: int, stake: str, commit_period: int, deliver_period: int,
           reward_pool: str, price_cap: str, participants: tuple[str, ...], validation: str | None, redundancy: int,
           aggregation: tuple[str, ...]) -> None:
    """Open a task over BASE_MODEL; prints its id as the last line of stdout."""
    params = _params("fedavg", aggregation, "--aggregation")
    with user_client(rpc, key) as client:
        listed = [cli_account(participant) for participant in participants]
        task = client.fl.create_task(base_model, rounds=rounds, participants=listed,
                                     stake=amount_units(client, stake, "'--stake'"),
                                     commit_period=commit_period, deliver_period=deliver_period,
                                     reward_pool=amount_units(client, reward_pool, "'--reward-pool'"),
                                     validation=validation, price_cap=amount_units(client, price_cap, "'--price-cap'"),
                                     redundancy=redundancy, aggregation=params)
    click.echo(str(task))


@fl.command()
@click.argument("task", type=click.IntRange(min=0))
@chain_options
def join(rpc: str, key: str, task: int) -> None:
    """Join TASK, holding its stake until it ends."""
    with user_client(rpc, key) as client:
        client.fl.join(task)


@fl.command()
@click.argument("task", type=click.IntRange(min=0))
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The local labelled dataset (.npz); it never leaves this machine.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Rounds to take part in (default: all).")
@click.option("--param", "params", multiple=True, help="A train parameter, name=value.")
@chain_options
def participate(rpc: str, key: str, task: int, data: Path, rounds: int | None, params: tuple[str, ...]) -> None:
    """Train TASK's rounds on local data; prints each delivered update's file id."""
    console = Console(stderr=True)

    def progress(report: RoundProgress) -> None:
        console.print(f"task {report.task_id} round {report.round}: {STAGE_NOTES.get(report.stage, report.stage)}")

    train_params = _params("train", params)
    with user_client(rpc, key, errors=(FormatError, InvalidInputs)) as client:
        done = client.fl.participate(task, data, rounds=rounds, train_params=train_params, progress=progress)
    for contribution in done:
        click.echo(f"0x{contribution.update.hex()}")


@fl.command(name="status")
@click.argument("task", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def fl_status(rpc: str, key: str, task: int, as_json: bool) -> None:
    """A task's rounds: contributors, scores, rewards, slashes and the global model of each."""
    with user_client(rpc, key) as client:
        found, token = client.fl.status(task), client.account.token()
    _report(found, as_json, lambda record: _show_task(record, token))


@fl.command()
@click.argument("task", type=click.IntRange(min=0))
@chain_options
def model(rpc: str, key: str, task: int) -> None:
    """TASK's global model file id: the base model until a round finishes, then that round's output."""
    with user_client(rpc, key) as client:
        click.echo(f"0x{client.fl.status(task).global_model.hex()}")


def _show_task(task: TaskStatus, token: Token) -> None:
    console = stdout_console()
    console.print(f"task {task.task_id}  {task.state}  round {task.round + 1}/{task.rounds}  members {task.members}  "
                  f"global model 0x{task.global_model.hex()}")
    table = Table("round", "contributors", "no-shows", "job", "scores", "rewards", "global model")
    for r in task.history:
        table.add_row(str(r.round), ", ".join(shown_account(c, short=True) for c in r.contributors),
                      ", ".join(shown_account(c, short=True) for c in r.no_shows) or "-",
                      "-" if r.job is None else str(r.job), ", ".join(map(str, r.scores)),
                      ", ".join(map(token.format, r.rewards)), _short(r.global_out))
    console.print(table)
