"""Locust load test of Edge's `POST /v1/decide`, with SLO checks that set the exit code.

    ./scripts/loadtest                                   # starts Edge, runs this headless, stops Edge
    .venv/bin/locust --config loadtest/locust.conf --host http://127.0.0.1:8000   # against a running Edge

Each simulated visitor mixes the traffic a storefront sends (task weights): anonymous cold starts,
anonymous visitors with viewed items, cart and searches, campaign arrivals with UTM, known
customers (`user_id` from the build's profiles), consent withheld, the odd `debug` call and a
small share of bad requests that must get the contract's 4xx, and view/cart events between pages.
Bodies are checked with `catch_response`: events must be accepted (202, `accepted` = sent); a
decision needs a segment, variant, greeting, cta and products with a reason; an error needs
`error.code`.

When the run ends (`events.quitting`), the SLOs decide the exit code: p99 of every request under
`--slo-p99-ms` (default 10; computed from the exact response times, not locust's rounded buckets)
and a failure ratio under `--slo-fail-ratio` (default 0.01). Product and user ids come from the
artifacts under `--edge-artifacts` (default: $EDGE_ARTIFACTS, else ./artifacts); without them, the
synthetic demo store's ranges (SYN10000-SYN12999, 20000-22999).
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from edge.core.shapes import REASONS as REASON_NAMES
from edge.core.shapes import SEGMENTS as SEGMENT_NAMES

log = logging.getLogger("edge.loadtest")

DECIDE = "/v1/decide"
EVENTS = "/v1/events"
SEGMENTS = set(SEGMENT_NAMES)
REASONS = set(REASON_NAMES)
PLACES = [
    ("GB", "en-GB", "Europe/London", "London"),
    ("NL", "nl-NL", "Europe/Amsterdam", "Amsterdam"),
    ("DE", "de-DE", "Europe/Berlin", "Berlin"),
    ("FR", "fr-FR", "Europe/Paris", "Paris"),
    ("BE", "nl-BE", "Europe/Brussels", "Antwerpen"),
    ("US", "en-US", "America/New_York", "New York"),
    ("ES", "es-ES", "Europe/Madrid", "Madrid"),
]
PAGES = ["home", "home", "home", "category", "product", "cart"]
DEVICES = ["mobile", "mobile", "desktop", "tablet"]
WEATHER = ["rain", "sun", "clouds", "snow"]
SEARCHES = ["lantern", "candle holder", "christmas", "mug", "lunch bag", "garden", "party", "cushion", "heart"]
CAMPAIGNS = [
    {"source": "newsletter", "medium": "email", "campaign": "xmas"},
    {"source": "google", "medium": "cpc", "campaign": "lanterns"},
    {"source": "facebook", "medium": "social", "campaign": "spring-sale"},
    {"source": "partner", "medium": "affiliate", "campaign": "gift-guide"},
]
REFERRERS = [None, "https://www.google.com/", "https://www.bing.com/", "https://t.co/x1"]


class Catalog:
    """Product and customer ids of the service's live build, else of the synthetic demo store."""

    items: ClassVar[list[str]] = [f"SYN{n}" for n in range(10_000, 13_000)]
    users: ClassVar[list[str]] = [str(n) for n in range(20_000, 23_000)]
    source = "synthetic ranges"

    @classmethod
    def load(cls, root: Path) -> None:
        try:
            manifest_here = (root / "index_infos.json").is_file()
            path = root if manifest_here else root / "versions" / (root / "CURRENT").read_text().strip()
            items = [str(record["id"]) for record in orjson.loads((path / "items.json").read_bytes())]
            lines = (path / "profiles.jsonl").read_bytes().splitlines()
            users = [str(orjson.loads(line)["user_id"]) for line in lines if line.strip()]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("no artifacts in %s (%s): using the synthetic id ranges", root, exc)
            return
        if items and users:
            cls.items, cls.users, cls.source = items, users, str(path)


# -- options, catalog and SLOs ------------------------------------------------------------------

_latencies_ms: list[float] = []
_environment: Environment | None = None


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--slo-p99-ms", type=float, default=10.0, help="SLO: p99 of all requests, ms (default 10)")
    parser.add_argument(
        "--slo-fail-ratio", type=float, default=0.01, help="SLO: failed share of requests must be below (default 0.01)"
    )
    parser.add_argument(
        "--edge-artifacts",
        default=os.environ.get("EDGE_ARTIFACTS") or "artifacts",
        help="Edge artifacts to take product and user ids from (default $EDGE_ARTIFACTS, else ./artifacts)",
    )


class MachineMeter:
    """How busy the machine was during the run, from /proc: steal and other processes' CPU.

    Other processes = machine busy time - locust (this process) - the Edge server
    (EDGE_LOADTEST_SERVER_PID, set by ./scripts/loadtest); steal = time the hypervisor gave away.
    Both in cores (1.0 = one CPU's whole time). Zeros where /proc is not there.
    """

    BUSY_OTHERS = 0.25  # cores of other processes' CPU from which a verdict is called noise-limited
    BUSY_STEAL = 0.05  # share of the machine's time stolen from which the same holds

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        server = os.environ.get("EDGE_LOADTEST_SERVER_PID", "")
        self.server_pid = int(server) if server.isdigit() else None
        self.start = self.read()

    def read(self) -> tuple[float, float, float, float, float] | None:
        """(wall s, busy s, steal s, total s of the machine, CPU s of locust + the server)."""
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            steal = values[7] if len(values) > 7 else 0
            busy = sum(values[:8]) - values[3] - values[4] - steal  # minus idle, iowait, steal
            total = sum(values[:8])
            ours = sum(os.times()[:2])
            if self.server_pid is not None:
                stat = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
                ours += (int(stat[11]) + int(stat[12])) / self.tick
        except (OSError, ValueError, IndexError):
            return None
        return time.monotonic(), busy / self.tick, steal / self.tick, total / self.tick, ours

    def summary(self) -> tuple[str, bool]:
        """A line for the verdict and whether the machine was busy enough to blame the figures on it."""
        end = self.read()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return "machine load unknown (no /proc)", False
        wall, busy, steal, total, ours = (b - a for a, b in zip(self.start, end, strict=True))
        others = max(0.0, (busy - ours) / wall)
        stolen = steal / total if total > 0 else 0.0
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        busy_machine = others >= self.BUSY_OTHERS or stolen >= self.BUSY_STEAL
        text = f"other processes {others:.2f} cores, steal {stolen:.1%}, load average {load:.2f}"
        return text, busy_machine


_machine: MachineMeter | None = None


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    global _environment, _machine
    _environment = environment
    _machine = MachineMeter()
    options = environment.parsed_options
    Catalog.load(Path(options.edge_artifacts if options else os.environ.get("EDGE_ARTIFACTS") or "artifacts"))
    log.info("ids from %s: %d items, %d customers", Catalog.source, len(Catalog.items), len(Catalog.users))


@events.request.add_listener
def _record(response_time: float, **_: Any) -> None:
    _latencies_ms.append(response_time)


@events.reset_stats.add_listener
def _reset(**_: Any) -> None:
    _latencies_ms.clear()  # the web UI's reset button


@events.spawning_complete.add_listener
def _ramped_up(**_: Any) -> None:
    if _environment is not None and _environment.reset_stats:
        _latencies_ms.clear()  # --reset-stats: the SLO then covers only the run after ramp-up


def exact_percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@events.quitting.add_listener
def _check_slos(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    p99_limit = options.slo_p99_ms if options else 10.0
    fail_limit = options.slo_fail_ratio if options else 0.01
    total = environment.stats.total
    if isinstance(environment.runner, MasterRunner) or not _latencies_ms:
        p99 = float(total.get_response_time_percentile(0.99) or 0)  # the workers' merged, whole-ms buckets
    else:
        p99 = exact_percentile(_latencies_ms, 0.99)
    broken = []
    if total.num_requests == 0:
        broken.append("no requests were made")
    if p99 >= p99_limit:
        broken.append(f"p99 {p99:.2f} ms >= {p99_limit:g} ms")
    if total.fail_ratio >= fail_limit:
        broken.append(f"failure ratio {total.fail_ratio:.2%} >= {fail_limit:.2%}")
    p50 = total.get_response_time_percentile(0.5)
    summary = (
        f"{total.num_requests} requests, {total.total_rps:.0f} req/s, p50 {p50} ms, "
        f"p99 {p99:.2f} ms, failures {total.num_failures} ({total.fail_ratio:.2%})"
    )
    machine, busy = _machine.summary() if _machine is not None else ("machine load unknown", False)
    summary += f"; machine: {machine}"
    if broken:
        log.error("SLO failed: %s. (%s)", "; ".join(broken), summary)
        if busy:
            log.error(
                "the machine was busy during the run (other processes or steal above %.2f cores / %.0f%%): "
                "the failure may be the neighbours' noise; rerun on a quiet machine before trusting it",
                MachineMeter.BUSY_OTHERS, 100 * MachineMeter.BUSY_STEAL,
            )  # fmt: skip
        environment.process_exit_code = 1
    else:
        log.info("SLO met: p99 < %g ms, failures < %.2f%%. (%s)", p99_limit, 100 * fail_limit, summary)
        environment.process_exit_code = 0


# -- checks -------------------------------------------------------------------------------------


def decision_problem(decision: Any, limit: int) -> str | None:
    """What is wrong with a decide answer, or None if it has the contract's shape."""
    if not isinstance(decision, dict):
        return "answer is not a JSON object"
    if decision.get("segment") not in SEGMENTS:
        return f"bad segment {decision.get('segment')!r}"
    for key, inner in (("variant", "id"), ("greeting", "text"), ("cta", "id")):
        value = decision.get(key)
        if not isinstance(value, dict) or not value.get(inner):
            return f"missing {key}.{inner}"
    products = decision.get("products")
    if not isinstance(products, list) or not products:
        return "no products"
    if len(products) > limit:
        return f"{len(products)} products for limit {limit}"
    for i, product in enumerate(products):
        if not isinstance(product, dict) or not product.get("id"):
            return f"products[{i}] has no id"
        if product.get("reason") not in REASONS:
            return f"products[{i}].reason is {product.get('reason')!r}"
    return None


# -- the visitor --------------------------------------------------------------------------------


class Visitor(FastHttpUser):
    """One storefront visitor: a session that browses, sometimes logs in, and a mix of page decisions."""

    wait_time = between(0.05, 0.15)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.session_id = self.new_session_id()
        self.viewed: list[str] = []
        self.place = self.rng.choice(PLACES)

    def new_session_id(self) -> str:
        return f"lt-{self.rng.getrandbits(48):012x}"

    def base(self, session_id: str | None = None) -> dict[str, Any]:
        country, locale, timezone, city = self.place
        return {
            "session_id": session_id or self.session_id,
            "page": self.rng.choice(PAGES),
            "limit": self.rng.choice([4, 8, 12, 12, 12, 24]),
            "locale": locale,
            "location": {"country": country, "city": city, "timezone": timezone},
            "context": {"device": self.rng.choice(DEVICES), "weather": self.rng.choice(WEATHER)},
        }

    def browse(self) -> list[str]:
        """This session views one or two more products; most recent last, the last 10 kept."""
        self.viewed.extend(self.rng.sample(Catalog.items, self.rng.randint(1, 2)))
        del self.viewed[:-10]
        return list(self.viewed)

    def decide(self, body: dict[str, Any], name: str, check: Any = None, headers: dict[str, str] | None = None) -> None:
        with self.client.post(
            DECIDE, data=orjson.dumps(body), headers=headers or JSON_HEADERS, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
                return
            try:
                decision = orjson.loads(response.content or b"")
            except orjson.JSONDecodeError:
                response.failure("answer is not JSON")
                return
            problem = decision_problem(decision, body.get("limit", 12)) or (check(decision) if check else None)
            if problem:
                response.failure(problem)

    @task(20)
    def cold_start(self) -> None:
        """A first page view: nothing known but place and device."""
        self.decide(self.base(self.new_session_id()), "decide: cold start")

    @task(25)
    def anonymous_browsing(self) -> None:
        body = self.base()
        session: dict[str, Any] = {"viewed": self.browse(), "first_visit": False}
        if self.rng.random() < 0.35:
            session["cart"] = self.rng.sample(self.viewed, 1) + self.rng.sample(Catalog.items, self.rng.randint(0, 2))
        if self.rng.random() < 0.3:
            session["searches"] = self.rng.sample(SEARCHES, self.rng.randint(1, 2))
        body["session"] = session
        if self.rng.random() < 0.2:
            body["exclude"] = self.viewed[-2:]
        self.decide(body, "decide: anonymous with signals")

    @task(10)
    def campaign_arrival(self) -> None:
        body = self.base(self.new_session_id())
        body["page"] = "home"
        body["session"] = {
            "utm": self.rng.choice(CAMPAIGNS),
            "referrer": self.rng.choice(REFERRERS),
            "first_visit": True,
        }
        self.decide(body, "decide: campaign arrival", lambda d: None if d["segment"] == "campaign" else "not campaign")

    @task(30)
    def known_customer(self) -> None:
        body = self.base()
        body["user_id"] = self.rng.choice(Catalog.users)
        if self.rng.random() < 0.6:
            body["session"] = {"viewed": self.browse()}
        self.decide(body, "decide: known customer")

    @task(6)
    def consent_withheld(self) -> None:
        body = self.base()
        if self.rng.random() < 0.5:
            body["user_id"] = self.rng.choice(Catalog.users)
        body["session"] = {"viewed": self.browse()}
        body["consent"] = {"personalization": False}
        self.decide(
            body, "decide: consent false", lambda d: "personalized with consent false" if d["personalized"] else None
        )

    @task(2)
    def debug(self) -> None:
        body = self.base()
        body["user_id"] = self.rng.choice(Catalog.users)
        body["session"] = {"viewed": self.browse()}
        body["debug"] = True
        if ADMIN_TOKEN:  # the admin may ask why; anyone else gets the plain decision (debug is admin-only)
            headers = JSON_HEADERS | {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            self.decide(body, "decide: debug", lambda d: None if isinstance(d.get("explain"), dict) else "no explain",
                        headers)  # fmt: skip
        else:
            self.decide(body, "decide: debug", lambda d: "explain without the admin token" if "explain" in d else None)

    @task(12)
    def view_events(self) -> None:
        """The storefront reports views (and now and then a cart add) as they happen; 202 once stored."""
        viewed = self.rng.sample(Catalog.items, self.rng.randint(1, 3))
        events = [{"type": "view", "session_id": self.session_id, "product_id": item} for item in viewed]
        if self.rng.random() < 0.2:
            events.append({"type": "add_to_cart", "session_id": self.session_id, "product_id": viewed[-1]})
        with self.client.post(
            EVENTS, data=orjson.dumps({"events": events}), headers=JSON_HEADERS, name="events: views",
            catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 202:
                response.failure(f"status {response.status_code}: {(response.text or '')[:200]}")
            elif orjson.loads(response.content or b"{}").get("accepted") != len(events):
                response.failure("accepted count differs from the events sent")

    @task(3)
    def bad_request(self) -> None:
        """The contract's 4xx answers: each must come back with its status and an `error.code`."""
        kind, status, payload, headers = self.rng.choice(BAD_REQUESTS)
        with self.client.post(
            DECIDE, data=payload, headers=headers, name=f"decide: bad ({kind})", catch_response=True
        ) as response:
            if response.status_code != status:
                response.failure(f"expected {status}, got {response.status_code}: {(response.text or '')[:200]}")
                return
            try:
                error = orjson.loads(response.content or b"").get("error", {})
            except (orjson.JSONDecodeError, AttributeError):
                error = {}
            if not isinstance(error, dict) or not error.get("code"):
                response.failure("error body without error.code")
            else:
                response.success()  # an expected 4xx is a pass


JSON_HEADERS = {"Content-Type": "application/json"}
ADMIN_TOKEN = os.environ.get("EDGE_ADMIN_TOKEN")  # the server's; ./scripts/loadtest sets one for both
BAD_REQUESTS: list[tuple[str, int, bytes, dict[str, str]]] = [
    ("no session_id", 422, orjson.dumps({"page": "home"}), JSON_HEADERS),
    ("bad session_id", 422, orjson.dumps({"session_id": "not valid!"}), JSON_HEADERS),
    ("limit out of range", 422, orjson.dumps({"session_id": "lt-bad", "limit": 0}), JSON_HEADERS),
    ("bad country", 422, orjson.dumps({"session_id": "lt-bad", "location": {"country": "Holland"}}), JSON_HEADERS),
    ("wrong type", 422, orjson.dumps({"session_id": "lt-bad", "session": {"viewed": "SYN10001"}}), JSON_HEADERS),
    ("malformed json", 400, b'{"session_id": "lt-bad",', JSON_HEADERS),
    ("content type", 415, b'{"session_id": "lt-bad"}', {"Content-Type": "text/plain"}),
    ("too large", 413, orjson.dumps({"session_id": "lt-bad", "exclude": ["x" * 100] * 700}), JSON_HEADERS),
]
