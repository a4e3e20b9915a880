"""Sync speed against a live Odoo, beside a hand-written XML-RPC reader (the peer).

    ODOO_URL=http://127.0.0.1:8069 ODOO_DB=odoo18 ODOO_USER=admin ODOO_PASSWORD=admin \\
        python bench/sync_odoo.py [--sizes 2000,10000] [--changed 100]

For each size N it makes sure N bench partners exist in Odoo (it creates them, named
"crmbook bench NNNNNN", under a company each 10th), then in one run:

1. initial pull of those partners into a fresh workspace with crmbook (records/s,
   local validation and writes included), over each of ``--protocols`` (XML-RPC, the
   default, and JSON-RPC, the option), beside the peer: a keyset-paged
   ``search_read`` loop over plain ``xmlrpc.client`` reading the same fields. They
   alternate ``--rounds`` times, every other round in reverse order. This machine's
   speed drifts by up to 2x within seconds (shared with Odoo and PostgreSQL), so the
   verdict is on the median of each round's ratio, crmbook against the peer run
   beside it; the ratio of the medians and every round are printed too;
2. an incremental sync after changing ``--changed`` of them in Odoo.

Targets: initial pull >= 0.9x the peer's rate; incremental < 2 s and flat in N. The
sync here uses a 2-second rewind window (the default 300 s would re-read partners the
bench itself created moments ago), and one untimed quiet run settles the cursor before
the records are changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

import crm_core
from erp_bridge import sync
from erp_bridge.odoo.adapter import OdooAdapter
from erp_bridge.odoo.mappings import partner_maps

OUT = Path(__file__).with_name("out")
PREFIX = "crmbook bench"


def env() -> tuple[str, str, str, str]:
    try:
        return tuple(os.environ[k] for k in ("ODOO_URL", "ODOO_DB", "ODOO_USER", "ODOO_PASSWORD"))  # type: ignore[return-value]
    except KeyError:
        sys.exit("set ODOO_URL, ODOO_DB, ODOO_USER and ODOO_PASSWORD")


def ensure_partners(odoo: OdooAdapter, n: int) -> list[int]:
    """Make sure at least ``n`` bench partners exist; return the ids of the first n."""
    have = sorted(odoo.all_ids("res.partner", [["name", "=like", f"{PREFIX}%"]]))
    missing = n - len(have)
    start = len(have)
    while missing > 0:
        batch = min(missing, 1000)
        vals = []
        for i in range(start, start + batch):
            vals.append(
                {
                    "name": f"{PREFIX} {i:06d}",
                    "is_company": i % 10 == 0,
                    "email": f"bench{i}@example.com",
                    "city": "Karachi",
                    "street": f"{i} Shahrah-e-Faisal",
                }
            )
        # Model-level create takes its records as the first positional argument.
        odoo.call("res.partner", "create", vals, idempotent=False)  # type: ignore[arg-type]
        start += batch
        missing -= batch
    return sorted(odoo.all_ids("res.partner", [["name", "=like", f"{PREFIX}%"]]))[:n]


def peer_read(
    url: str, db: str, user: str, password: str, fields: list[str], domain: list
) -> tuple[int, float]:
    """The peer: authenticate, then page search_read by id over plain xmlrpc.client."""
    t0 = time.perf_counter()
    common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
    uid = common.authenticate(db, user, password, {})
    models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object")
    last, count = 0, 0
    while True:
        page = models.execute_kw(
            db,
            uid,
            password,
            "res.partner",
            "search_read",
            [[*domain, ["id", ">", last]]],
            {"fields": fields, "limit": 2000, "order": "id asc", "context": {"active_test": False}},
        )
        if not page:
            break
        count += len(page)
        last = page[-1]["id"]
    return count, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,10000")
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--protocols",
        default="xmlrpc,jsonrpc",
        help="crmbook's RPC protocols to time (the first, XML-RPC, is the default one)",
    )
    args = parser.parse_args()
    url, db, user, password = env()
    protocols = args.protocols.split(",")
    adapters = {p: OdooAdapter(url, db, user, password, timeout=120, protocol=p) for p in protocols}
    odoo = adapters[protocols[0]]
    company, contact = partner_maps()
    fields = sorted(set(company.remote_fields) | set(contact.remote_fields) | {"is_company"})
    bench_domain = [["name", "=like", f"{PREFIX}%"]]
    results = []
    print(f"crmbook sync vs plain xmlrpc.client on {odoo.backend}")
    for n in (int(x) for x in args.sizes.split(",")):
        ids = ensure_partners(odoo, n)
        cutoff = ids[-1]
        domain = [*bench_domain, ["id", "<=", cutoff]]
        maps = [dataclasses.replace(m, domain=[*m.domain, *domain]) for m in (company, contact)]
        peer_times: list[float] = []
        pull_times: dict[str, list[float]] = {p: [] for p in protocols}
        for i in range(args.rounds):
            # Every other round runs in reverse order, so neither side always goes first.
            order = ["peer", *protocols]
            for who in order if i % 2 == 0 else order[::-1]:
                if who == "peer":
                    peer_n, peer_s = peer_read(url, db, user, password, fields, domain)
                    peer_times.append(peer_s)
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    ws = crm_core.open(Path(tmp) / "bench.sqlite")
                    t0 = time.perf_counter()
                    first = sync(ws, adapters[who], maps=maps, models=["company", "contact"])
                    pull_times[who].append(time.perf_counter() - t0)
                    ws.close()
        peer_s = statistics.median(peer_times)
        pulled = first.models["company"].created + first.models["contact"].created
        with tempfile.TemporaryDirectory() as tmp:
            ws = crm_core.open(Path(tmp) / "bench.sqlite")
            sync(ws, odoo, maps=maps, models=["company", "contact"], rewind_seconds=2)
            time.sleep(3)  # past the rewind window of the bench's own creates
            # Steady state first: the cursor sits at the newest write, and the rewind
            # re-reads whatever was written in the seconds before it (here a whole
            # creation batch). One later write and a quiet run move it on.
            odoo.write("res.partner", [ids[0]], {"city": "Karachi"})
            sync(ws, odoo, maps=maps, models=["company", "contact"], rewind_seconds=2)
            time.sleep(3)
            changed = ids[:: max(1, len(ids) // args.changed)][: args.changed]
            token = int(time.time())  # new values every run, or unchanged ones are skipped
            for i, rid in enumerate(changed):
                odoo.write("res.partner", [rid], {"city": f"Lahore {token}-{i}"})
            t0 = time.perf_counter()
            second = sync(ws, odoo, maps=maps, models=["company", "contact"], rewind_seconds=2)
            incr_s = time.perf_counter() - t0
            updated = second.models["company"].updated + second.models["contact"].updated
            ws.close()
        row: dict[str, object] = {
            "n": n,
            "peer_records": peer_n,
            "peer_seconds": round(peer_s, 3),
            "peer_rounds": [round(t, 3) for t in peer_times],
            "peer_rate": round(peer_n / peer_s),
            "crmbook_records": pulled,
            "incremental_changed": len(changed),
            "incremental_updated": updated,
            "incremental_seconds": round(incr_s, 3),
            "errors": len(first.errors) + len(second.errors),
        }
        results.append(row)
        print(
            f"N={n:>6}: peer {peer_n} in {peer_s:.2f}s = {row['peer_rate']}/s {row['peer_rounds']}"
        )
        for protocol, times in pull_times.items():
            pull_s = statistics.median(times)
            of_medians = round((pulled / pull_s) / (peer_n / peer_s), 2)
            # The machine's speed drifts between rounds; a round's two runs are
            # neighbours in time, so their ratio is the steadier figure.
            paired = round(
                statistics.median(
                    (pulled / t) / (peer_n / p) for t, p in zip(times, peer_times, strict=True)
                ),
                2,
            )
            row[protocol] = {
                "rounds": [round(t, 3) for t in times],
                "seconds": round(pull_s, 3),
                "rate": round(pulled / pull_s),
                "ratio_of_medians": of_medians,
                "ratio_paired": paired,
            }
            label = f"crmbook {protocol}{' (default)' if protocol == protocols[0] else ''}"
            print(
                f"  {label}: initial pull {pulled} in {pull_s:.2f}s = {round(pulled / pull_s)}/s; "
                f"x{paired} (median of per-round ratios; of medians x{of_medians}) "
                f"{'PASS' if paired >= 0.9 else 'FAIL'} (>= 0.9x) {[round(t, 3) for t in times]}"
            )
        print(
            f"  incremental ({protocols[0]}): {len(changed)} changed -> {updated} updated in "
            f"{incr_s:.2f}s {'PASS' if incr_s < 2 else 'FAIL'} (< 2 s)"
        )
    if len(results) > 1:
        growth = results[-1]["incremental_seconds"] / max(results[0]["incremental_seconds"], 1e-9)
        size = results[-1]["n"] / results[0]["n"]
        print(
            f"incremental time x{growth:.2f} for x{size:.0f} records "
            f"({'flat' if growth < 1.5 else 'GROWS'})"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "sync_odoo.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
