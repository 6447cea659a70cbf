"""Query: requests/s and latency of a customer's accounts and their last transactions.

`customer(id) { accounts { transactions(first: 20) { nodes { amount balanceAfter } } } }`,
from 32 concurrent httpx clients (each its own connection) against factview served by
uvicorn in a subprocess. Baseline: a bare Starlette endpoint (bench/apps.py, also a uvicorn
subprocess with the same flags) doing the same MongoDB reads and returning the same JSON.
One server runs at a time; the client checks first that both answer the same JSON.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

from bench.apps import QUERY
from bench.facts import customer_id, facts, seed
from bench.report import Result, parser, percentile, report
from bench.stack import Stack, servers, spawn_uvicorn, staff_authorization, wait_http

GOAL = 0.5
AUTH = {"Authorization": staff_authorization()}


@dataclass(frozen=True)
class Options:
    customers: int = 200
    transactions: int = 25
    clients: int = 32
    seconds: float = 15.0
    warmup: float = 2.0
    profile: str | None = None


@dataclass
class Load:
    requests: int
    seconds: float
    latencies: list[float]
    failures: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def body(cid: str) -> dict[str, object]:
    return {"query": QUERY, "variables": {"id": cid}}


async def answer(url: str, cid: str) -> object:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH) as http:
        response = await http.post("/graphql", json=body(cid))
        response.raise_for_status()
        return response.json()


async def load(url: str, ids: list[str], clients: int, seconds: float, warmup: float) -> Load:
    """`clients` workers, each on its own connection, asking back to back; warm-up discarded."""
    begin = time.perf_counter()
    measure_from = begin + warmup
    end = measure_from + seconds
    latencies: list[float] = []
    failures = 0

    async def worker(n: int) -> None:
        nonlocal failures
        rng = random.Random(n)
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH) as http:
            while True:
                started = time.perf_counter()
                if started >= end:
                    return
                response = await http.post("/graphql", json=body(rng.choice(ids)))
                took = time.perf_counter() - started
                ok = response.status_code == 200 and b'"errors"' not in response.content
                if started >= measure_from:
                    latencies.append(took)
                    failures += 0 if ok else 1

    await asyncio.gather(*(worker(n) for n in range(clients)))
    return Load(len(latencies), time.perf_counter() - measure_from, latencies, failures)


async def serve_and_load(
    stack: Stack, name: str, factory: str, ids: list[str], opts: Options
) -> tuple[Load, object]:
    profile = opts.profile if name == "factview" else None
    child = spawn_uvicorn(name, factory, stack.env(), profile)
    try:
        await wait_http(child)
        sample = await answer(child.url, ids[0])
        result = await load(child.url, ids, opts.clients, opts.seconds, opts.warmup)
        return result, sample
    finally:
        child.stop(timeout=120, interrupt=profile is not None)


async def measure(stack: Stack, opts: Options) -> Result:
    customers, per_account = opts.customers, opts.transactions
    accounts = customers * 2
    # Registrations, openings, then about `per_account` movements per account.
    events = customers + accounts + accounts * per_account
    seeded = await seed(stack, facts(events, accounts))
    ids = [customer_id(n) for n in range(customers)]
    bare, bare_sample = await serve_and_load(stack, "bare", "bench.apps:bare", ids, opts)
    fv, fv_sample = await serve_and_load(stack, "factview", "bench.apps:factview", ids, opts)
    # Compare the data; factview may add `extensions` (e.g. freshness), which is its own cost.
    if _data(fv_sample) != _data(bare_sample):
        raise AssertionError(f"answers differ:\nfactview {fv_sample!r}\nbare     {bare_sample!r}")
    return Result(
        name="query",
        figure=fv.rate,
        baseline=bare.rate,
        unit="requests/s",
        goal=f">= {GOAL}",
        met=fv.rate / bare.rate >= GOAL,
        details={
            "data": f"{customers} customers, {accounts} accounts, {seeded} events",
            "clients": opts.clients,
            "seconds measured (each)": opts.seconds,
            "factview p50 / p99 ms": f"{fv.ms(50):.1f} / {fv.ms(99):.1f}",
            "baseline p50 / p99 ms": f"{bare.ms(50):.1f} / {bare.ms(99):.1f}",
            "failed requests (factview, baseline)": f"{fv.failures}, {bare.failures}",
            "same data in both answers": "yes",
        },
        notes=[
            "client, server and SecantusDB share the machine's cores: the client's own cost "
            "caps both figures alike, so the ratio understates the server-side gap"
        ],
    )


def _data(answer: object) -> object:
    return answer.get("data") if isinstance(answer, dict) else answer


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--customers", type=int, default=200, help="two accounts each")
    p.add_argument("--transactions", type=int, default=25, help="per account")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=15.0, help="measured, per server")
    p.add_argument("--warmup", type=float, default=2.0, help="discarded, per server")
    p.add_argument("--profile", metavar="PATH", help="pyinstrument text profile of factview")
    args = p.parse_args()
    opts = Options(
        args.customers, args.transactions, args.clients, args.seconds, args.warmup, args.profile
    )
    with servers() as stack:
        result = asyncio.run(measure(stack, opts))
    report(result, args.json)


if __name__ == "__main__":
    main()
