"""Simulate a storefront with a known uplift against a running `edge serve`, then read the result.

    python loadtest/simulate_experiment.py [--url http://127.0.0.1:8000] [--token T] [--experiment hero-test]
        [--units 20000] [--base-rate 0.10] [--uplift 0.10] [--concurrency 32] [--seed 1]

Each simulated visitor (a fresh session) gets one decision; the experiment's first arm is the
control and converts at `--base-rate`, every other arm at `base-rate * (1 + uplift)`, held-out
visitors at the base rate. Visitors click a recommended product (30 %), add to cart and buy with
the decision's id; a visitor shown an offer redeems it on half its purchases. The script then
prints the report (`GET /v1/reports/experiments/{key}`) and whether the true uplift lies inside
the reported 95 % interval. Requests go to `--url` only (a server on this machine), bounded in
count by `--units`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from typing import Any

import aiohttp


async def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("EDGE_ADMIN_TOKEN")
    if not token:
        print("needs the admin token (--token or EDGE_ADMIN_TOKEN) to read the report", file=sys.stderr)
        return 2
    auth = {"Authorization": f"Bearer {token}"}
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:8]
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(args.url, connector=connector) as http:
        async with http.get("/v1/experiments", headers=auth) as response:
            config = await response.json()
        experiment = next((e for e in config["experiments"] if e["key"] == args.experiment), None)
        if experiment is None:
            print(f"experiment {args.experiment!r} is not in the running config", file=sys.stderr)
            return 2
        control = experiment["arms"][0]["key"]
        gate = asyncio.Semaphore(args.concurrency)

        async def decide(n: int) -> dict[str, Any]:
            async with gate, http.post("/v1/decide", json={"session_id": f"sim-{run_id}-{n}", "limit": 6}) as r:
                body: dict[str, Any] = await r.json()
                return body

        started = time.perf_counter()
        decisions = await asyncio.gather(*(decide(n) for n in range(args.units)))
        events: list[dict[str, Any]] = []
        truth: dict[str, list[int]] = {}
        for n, decision in enumerate(decisions):
            arms = [e["arm"] for e in decision["experiments"] if e["key"] == args.experiment]
            arm = arms[0] if arms else None
            rate = args.base_rate * (1 + args.uplift) if arm not in (None, control) else args.base_rate
            base = {"session_id": f"sim-{run_id}-{n}", "decision_id": decision["decision_id"]}
            products = decision["products"]
            converted = rng.random() < rate
            if arm is not None:
                units, conversions = truth.setdefault(arm, [0, 0])
                truth[arm] = [units + 1, conversions + int(converted)]
            if products and rng.random() < 0.3:
                slot = rng.randrange(len(products))
                events.append({**base, "type": "click", "product_id": products[slot]["id"], "position": slot + 1})
            if converted and products:
                product = products[0]["id"]
                purchase = {**base, "type": "purchase", "product_id": product, "quantity": 1,
                            "price": round(rng.uniform(5, 60), 2)}  # fmt: skip
                offer = decision["cta"].get("offer")
                if offer and rng.random() < 0.5:
                    purchase["offer_code"] = offer["code"]
                events += [{**base, "type": "add_to_cart", "product_id": product}, purchase]

        async def post(batch: list[dict[str, Any]]) -> None:
            async with gate, http.post("/v1/events", json={"events": batch}) as r:
                if r.status != 202:
                    raise SystemExit(f"events answered {r.status}: {await r.text()}")

        await asyncio.gather(*(post(events[i : i + 200]) for i in range(0, len(events), 200)))
        took = time.perf_counter() - started
        expected = sum(units for units, _ in truth.values())
        deadline = time.monotonic() + 30
        while True:  # the enrolments are written behind the decisions: wait until they all landed
            async with http.get(f"/v1/reports/experiments/{args.experiment}", headers=auth) as r:
                report: dict[str, Any] = await r.json()
            if sum(a["units"] for a in report["arms"]) >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    print(f"{args.units} decisions and {len(events)} events in {took:.1f} s")
    print(f"simulated: {', '.join(f'{a}: {c}/{u}' for a, (u, c) in sorted(truth.items()))}")
    print(f"sample ratio: {'OK' if report['srm']['ok'] else 'MISMATCH'} (p = {report['srm']['p_value']})")
    inside = True
    for result in report["results"]:
        if result["metric"] != "conversion":
            continue
        ci = result["ci"]
        hit = ci is not None and ci[0] <= args.uplift <= ci[1]
        inside = inside and hit
        print(
            f"conversion {result['arm']} vs {result['baseline']}: uplift {result['uplift']:+.4f} "
            f"(true {args.uplift:+.4f}), 95% ci [{ci[0]:+.4f}, {ci[1]:+.4f}], p = {result['p_value']:.4g}, "
            f"chance to win {result['chance_to_win']:.3f}: true uplift {'inside' if hit else 'OUTSIDE'} the interval"
        )
    return 0 if inside else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token")
    parser.add_argument("--experiment", default="hero-test")
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--base-rate", type=float, default=0.10)
    parser.add_argument("--uplift", type=float, default=0.10, help="true relative uplift of every non-control arm")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
