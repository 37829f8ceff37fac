"""The otscope command line (typer)."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import Annotated, Any

import typer

from otscope import __version__
from otscope.collector.render import assets_csv, assets_json, csv_cell  # noqa: F401 - csv_cell: the CLI's API
from otscope.dissectors.catalog import PROTOCOLS, TITLES   # declarations only: no dissector is imported here
from otscope.domain import Caps, configure_caps

DEFAULT_URL = "sqlite:///otscope.db"          # collector.db.DEFAULT_URL (not imported here: SQLAlchemy is slow
                                              # to import, and replay starts its workers before it)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help=f"otscope: passive OT asset discovery ({TITLES}, L2 clues).")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
app.add_typer(token_app, name="token")

DbOpt = Annotated[str, typer.Option("--db", envvar="OTSCOPE_DB", help="SQLAlchemy URL of the inventory.")]


class AssetFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class CoverageFormat(str, Enum):
    table = "table"
    json = "json"


def _factory(db: str):  # type: ignore[no-untyped-def]
    from otscope.collector.db import init_schema, make_engine, session_factory

    engine = make_engine(db)
    init_schema(engine)
    return session_factory(engine)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"otscope: {message}", err=True)
    raise typer.Exit(code)


def set_caps(items: list[str]) -> None:
    """``--cap NAME=VALUE`` options, before any dissector exists (workers fork after this)."""
    values: dict[str, int] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value.strip().isdigit():
            fail(f"--cap {item!r}: expected NAME=VALUE with a whole number (caps: {', '.join(Caps.names())})")
        values[name.strip()] = int(value)
    try:
        configure_caps(**values)
    except ValueError as exc:
        fail(f"--cap: {exc}")


REFUSED = 3                      # replay: a file overlapping one already in the inventory was not applied
AUTO_WORKERS_FROM = 512 << 20    # below this, one worker already finishes before the database is set up


def auto_workers(size: int, cpus: int | None = None) -> int:
    """Workers for a file of ``size`` bytes: a second worker pays off only once parsing outlasts the parent's
    database set-up (README "Performance": equal on 134 MB / 1M packets, +15% on 1.35 GB / 10M)."""
    if size < AUTO_WORKERS_FROM:
        return 1
    return max(1, min(cpus or os.cpu_count() or 1, 8))


@app.command()
def replay(
    files: Annotated[list[str], typer.Argument(help="pcap / pcapng files ('-' for standard input; a FIFO works)")],
    db: DbOpt = DEFAULT_URL,
    sensor: Annotated[str, typer.Option(help="sensor name recorded with every observation")] = "replay",
    progress: Annotated[bool, typer.Option(help="progress bar (default: on a terminal)")] = sys.stderr.isatty(),
    workers: Annotated[int, typer.Option(min=0, max=64, help="processes, each owning a share of the "
                                                             "conversations (same inventory as 1); 0: one "
                                                             "per CPU for files of 512 MiB and more, else 1")] = 0,
    dissectors: Annotated[str, typer.Option(help=f"comma-separated ICS dissectors to run "
                                                 f"({', '.join(PROTOCOLS)}; 'none' for the spine alone)")] = "all",
    cap: Annotated[list[str] | None, typer.Option(help=f"a per-flow cap NAME=VALUE, repeatable "
                                                       f"({', '.join(Caps.names())}); hitting one is counted "
                                                       f"as the anomaly NAME-cap")] = None,
) -> None:
    """Stream capture files into the inventory (constant memory; replaying a file twice doubles nothing).

    A different file holding the same frames as one already replayed (a cut or repaired copy) is refused
    (exit code 3), so no packet is counted twice."""
    chosen = None if dissectors == "all" else set() if dissectors == "none" else \
        {d.strip() for d in dissectors.split(",") if d.strip()}
    if chosen is not None and chosen - set(PROTOCOLS):
        fail(f"unknown dissector(s) {sorted(chosen - set(PROTOCOLS))} (known: {', '.join(PROTOCOLS)})")
    set_caps(cap or [])
    from otscope.agent.replay import now, start

    t0 = now()
    factory = None
    results = []
    total_bytes = sum(os.path.getsize(f) for f in files if os.path.exists(f))
    bar = None
    if progress:
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)
        bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                       TextColumn("{task.fields[pps]:>10} pkt/s"), TimeRemainingColumn(), transient=True)
        bar.start()
        task = bar.add_task("replay", total=total_bytes or None, pps="")
        seen = [0, now()]

        def on_progress(nbytes: int, npk: int) -> None:
            seen[0] += npk
            bar.update(task, advance=nbytes, pps=f"{seen[0] / max(now() - seen[1], 1e-6):,.0f}")
    else:
        on_progress = None  # type: ignore[assignment]
    try:
        for path in files:
            if bar is not None:
                bar.update(task, description=os.path.basename(path)[:30])
            n = workers or auto_workers(os.path.getsize(path) if os.path.exists(path) else 0)
            job = start(path, sensor=sensor, workers=n, on_progress=on_progress,         # workers run now
                        dissectors=chosen)
            if factory is None:
                factory = _factory(db)               # the database is set up while the workers read
                from otscope.agent.replay import checked_sink
                from otscope.collector.oui import table

                table()
                sink = checked_sink(factory)
            res = job.finish(sink)
            results.append(res)
            if res.error:
                typer.echo(f"otscope: error: {res.error}", err=True)
            if res.refused:
                typer.echo(f"otscope: refused {path}: {res.refused}", err=True)
    finally:
        if bar is not None:
            bar.stop()
    elapsed = now() - t0
    if factory is None:
        factory = _factory(db)
    _refresh_advisory_matches(factory)
    from otscope.collector.db import checkpoint

    checkpoint(factory)                              # the .db file alone is the whole inventory (no -wal left)
    from otscope.collector.queries import coverage

    with factory() as s:
        cov = coverage(s)
        from sqlalchemy import func, select

        from otscope.collector.models import Asset
        n_assets = s.scalar(select(func.count(Asset.id)))
    packets = sum(r.packets for r in results)
    ot_b = sum(r.ot_bytes for r in results)
    ot_d = sum(r.ot_decoded for r in results)
    typer.echo(
        f"replayed {len(files)} file(s): {packets:,} packets, {sum(r.flows for r in results):,} flows, "
        f"{n_assets} assets in inventory ({cov['assets_identified']}/{cov['assets_total']} OT assets identified), "
        f"decoded {ot_d:,}/{ot_b:,} OT payload bytes ({(ot_d / ot_b if ot_b else 0):.1%}), "
        f"{sum(r.anomalies for r in results):,} anomalies, {sum(r.span_duplicates for r in results):,} SPAN duplicates, "
        f"{elapsed:.2f} s, {packets / elapsed if elapsed else 0:,.0f} packets/s")
    _report_link_layers(results)
    if any(r.error for r in results):
        raise typer.Exit(1)
    if any(r.refused for r in results):
        raise typer.Exit(REFUSED)


def _refresh_advisory_matches(factory) -> None:  # type: ignore[no-untyped-def]
    """With advisories imported, the replayed inventory's matches are brought up to date (issue 18: the CLI, API
    and dashboard read them); nothing is done, and nothing imported, when there are none."""
    from sqlalchemy import select

    from otscope.collector.models import Advisory

    with factory() as s:
        if s.scalar(select(Advisory.id).limit(1)) is None:
            return
        from otscope.collector.advisories import store
        from otscope.collector.uow import unit_of_work

        with unit_of_work(s):
            store.refresh(s)
        affected = len(store.summaries(s))
    typer.echo(f"advisories: matches refreshed ({affected} asset(s) with a match; otscope vulns lists them)")


def _report_link_layers(results: list) -> None:  # type: ignore[type-arg]
    """Frames nothing decoded, by link type and reason, and tunnels unwrapped: a capture never silently empty."""
    nd: dict[str, int] = {}
    tun: dict[str, int] = {}
    for r in results:
        for k, v in r.not_decoded.items():
            nd[k] = nd.get(k, 0) + v
        for k, v in r.tunnels.items():
            tun[k] = tun.get(k, 0) + v
    if nd:
        typer.echo("not decoded: " + "; ".join(f"{k} ({v:,} frames)" for k, v in sorted(nd.items())), err=True)
    if tun:
        typer.echo("remote SPAN / tunnels unwrapped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(tun.items())),
                   err=True)


@app.command()
def assets(db: DbOpt = DEFAULT_URL, format: Annotated[AssetFormat, typer.Option("--format")] = AssetFormat.table) -> None:
    """Print the asset inventory."""
    from otscope.collector.queries import list_assets

    with _factory(db)() as s:
        data = list_assets(s, with_facts=format is AssetFormat.json)
    if format is AssetFormat.json:
        typer.echo(assets_json(data, indent=1))
    elif format is AssetFormat.csv:
        typer.echo(assets_csv(data), nl=False)
    else:
        _asset_table(data)


def _asset_table(data: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"{len(data)} assets")
    for col in ("id", "ip", "mac", "role", "vendor", "product / order no.", "firmware", "serial", "name", "protocols"):
        t.add_column(col, overflow="fold")
    for a in data:
        row = [str(a["id"]) + (f" <{a['parent']}" if a["parent"] else ""), " ".join(a["ips"]), " ".join(a["macs"]),
               a["role"], a["vendor"] or "", a["product"] or a["order_number"] or "", a["firmware"] or "",
               a["serial"] or "", a["name"] or "", " ".join(a["protocols"])]
        t.add_row(*[Text(x) for x in row])          # Text: wire strings are never parsed as markup
    Console(width=None if sys.stdout.isatty() else 220).print(t)


@app.command("coverage")
def coverage_cmd(db: DbOpt = DEFAULT_URL,
                 format: Annotated[CoverageFormat, typer.Option("--format")] = CoverageFormat.table) -> None:
    """Visibility coverage against the >95% asset and >80% traffic targets, with the reason for every gap."""
    from otscope.collector.queries import coverage

    with _factory(db)() as s:
        cov = coverage(s)
    if format is CoverageFormat.json:
        typer.echo(json.dumps(cov, indent=1, sort_keys=True))
        return
    tr = cov["traffic"]
    typer.echo(f"asset coverage   {cov['asset_coverage']:.1%} ({cov['assets_identified']}/{cov['assets_total']} OT assets "
               f"with vendor, product and firmware from the wire) target {cov['target']:.0%}: "
               f"{'PASS' if cov['pass'] else 'FAIL'}")
    f = cov["fields"]
    typer.echo(f"fields           vendor {f['vendor']:.1%}  product {f['product']:.1%}  firmware {f['firmware']:.1%}")
    for k in cov["classes"]:                      # one line per asset class, each with its definition
        share = f"{k['coverage']:.1%}" if k["assets"] else "none seen"
        typer.echo(f"{k['asset_class']:<16} {share} ({k['identified']}/{k['assets']} {k['title']}; "
                   f"{k['definition']})")
        for g in k["gaps"]:
            typer.echo(f"  gap x{g['assets']}: {g['reason']} -> {g['action']}")
    if tr["share"] is None:
        typer.echo(f"traffic coverage not applicable (no OT bytes seen) target {tr['target']:.0%}")
    else:
        typer.echo(f"traffic coverage {tr['share']:.1%} ({tr['ot_bytes_decoded']:,}/{tr['ot_bytes']:,} OT bytes "
                   f"decoded) target {tr['target']:.0%}: {'PASS' if tr['pass'] else 'FAIL'}")
    idn = cov["identification"]
    typer.echo(f"identification   passive {idn['passive']}, active {idn['active']}, both {idn['both']}, none "
               f"{idn['none']} OT devices (identified: passive {idn['identified']['passive']}, active "
               f"{idn['identified']['active']}, both {idn['identified']['both']}; active = otscope identify)")
    for c in cov["components"]:
        what = " ".join(x for x in (c["vendor"], c["product"], c["firmware"]) if x) or "no identity"
        typer.echo(f"component {c['component'] or '-'} of asset {c['parent']} (asset {c['asset']}, {c['role']}): "
                   f"{what}{'' if c['identified'] else ' (not identified)'}")
    for g in cov["gaps"]:
        typer.echo(f"gap asset {g['asset']} {' '.join(g['ips']) or '-'} ({g['role']}): {g['reason']} -> {g['action']}"
                   + (f" [identity: {g['identity_method']}]" if g["identity_method"] != "none" else ""))


events_app = typer.Typer(help="Change events (issue 17): what changed, who did it; acknowledge into the baseline.")
app.add_typer(events_app, name="events")


class EventFormat(str, Enum):
    table = "table"
    json = "json"


@events_app.callback(invoke_without_command=True)
def events_cmd(ctx: typer.Context, db: DbOpt = DEFAULT_URL,
               since: Annotated[str | None, typer.Option(help="only events seen since (epoch s or ISO 8601)")] = None,
               kind: Annotated[str | None, typer.Option(help="one kind (new-asset, plc-stop, ...)")] = None,
               asset: Annotated[int | None, typer.Option(min=1, help="an asset id (as asset or client)")] = None,
               severity: Annotated[str | None, typer.Option(help="low | medium | high")] = None,
               alerts: Annotated[bool, typer.Option(help="leave out learning-period events")] = False,
               format: Annotated[EventFormat, typer.Option("--format")] = EventFormat.table) -> None:
    """List events (oldest first); `otscope events ack ID` accepts one into the baseline."""
    if ctx.invoked_subcommand is not None:
        return
    from otscope.collector import events

    if kind is not None and kind not in events.KINDS:
        fail(f"--kind {kind!r}: not a kind ({', '.join(events.KINDS)})")
    if severity is not None and severity not in events.SEVERITIES:
        fail(f"--severity {severity!r}: low, medium or high")
    try:
        t = events.parse_since(since) if since is not None else None
    except ValueError as exc:
        fail(f"--since: {exc}")
    with _factory(db)() as s:
        rows, count = events.list_events(s, events.EventFilter(kind, asset, severity, t, False if alerts else None))
        names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
        data = [events.as_dict(r, names) for r in rows]
    if format is EventFormat.json:
        typer.echo(json.dumps({"data": data, "count": count}, indent=1, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tb = Table(title=f"{count} events")
    for col in ("id", "time", "kind", "sev", "asset", "client", "protocol", "detail", "evidence", "ATT&CK", "n",
                "flags"):
        tb.add_column(col, overflow="fold")
    for e in data:
        flags = " ".join(f for f, on in (("learning", e["learning"]), ("acked", e["acknowledged"])) if on)
        ev = e["evidence"][0] + (f" (+{len(e['evidence']) - 1})" if len(e["evidence"]) > 1 else "") if e["evidence"] else ""
        row = [str(e["id"]), e["time"][:23], e["kind"], e["severity"], e["asset"] or "", e["client"] or "",
               e["protocol"], e["detail"], ev, e["technique"] or "", str(e["count"]), flags]
        tb.add_row(*[Text(x) for x in row])         # Text: wire strings are never parsed as markup
    Console(width=None if sys.stdout.isatty() else 240).print(tb)


@events_app.command("ack")
def events_ack(event_id: Annotated[int, typer.Argument(min=1, help="the id shown by `otscope events`")],
               db: DbOpt = DEFAULT_URL,
               by: Annotated[str, typer.Option(help="who accepts it (recorded)")] = "cli") -> None:
    """Accept an event into the baseline: the same (kind, asset, client, detail) is not raised again."""
    from otscope.collector import events
    from otscope.collector.uow import unit_of_work

    with _factory(db)() as s, unit_of_work(s):
        row = events.acknowledge(s, event_id, by)
        if row is None:
            fail(f"no event {event_id}", 1)
        typer.echo(f"event {event_id} ({row.kind}) acknowledged: in the baseline")


advisories_app = typer.Typer(no_args_is_help=True,
                              help="Security advisories (CSAF 2.0, issue 18): import them offline, list them.")
app.add_typer(advisories_app, name="advisories")


@advisories_app.command("import")
def advisories_import(
        paths: Annotated[list[str], typer.Argument(help="CSAF 2.0 .json files, folders of them, .zip archives")],
        db: DbOpt = DEFAULT_URL,
        validate: Annotated[bool, typer.Option(help="check each document against the CSAF 2.0 JSON schema "
                                                    "(needs the csaf package; offline)")] = True) -> None:
    """Import advisories (idempotent: keyed on tracking id + revision), match them against the inventory and
    raise an advisory-match event for each known asset that became affected. A broken document is reported by
    file and skipped (exit code 1), never half-imported."""
    from otscope.collector.advisories import store
    from otscope.collector.events import publish
    from otscope.collector.uow import unit_of_work

    factory = _factory(db)
    with factory() as s:
        with unit_of_work(s):
            rep = store.import_sources(s, paths, validate=validate)
        publish(s, rep.events)                  # after the commit: to the configured event outputs
    for f in rep.files:
        what = f"{f.tracking_id} rev {f.revision}" if f.tracking_id else ""
        line = f"{f.outcome.value:<10} {what} {f.source}" + (f": {f.message}" if f.message else "")
        typer.echo(line.replace("\n", " ")[:400], err=f.outcome is store.Outcome.ERROR)
    if validate and rep.unchecked:
        typer.echo("otscope: note: the CSAF 2.0 JSON schema is not installed (pip install 'otscope[advisories]'): "
                   f"{rep.unchecked} document(s) had the structural checks only", err=True)
    ok = len(rep.files) - len(rep.errors)
    typer.echo(f"{ok}/{len(rep.files)} document(s) read, {rep.matches} vulnerability match(es) in the inventory, "
               f"{len(rep.newly_affected)} asset/advisory pair(s) newly affected")
    if rep.errors:
        fail(f"{len(rep.errors)} document(s) not imported (see above)", 1)


@advisories_app.command("list")
def advisories_list(db: DbOpt = DEFAULT_URL,
                    format: Annotated[CoverageFormat, typer.Option("--format")] = CoverageFormat.table) -> None:
    """The imported advisories (every revision; `latest` is the one matched)."""
    from otscope.collector.advisories import store

    with _factory(db)() as s:
        data = store.advisories(s)
    if format is CoverageFormat.json:
        typer.echo(json.dumps({"data": data, "count": len(data)}, indent=1, sort_keys=True))
        return
    for a in data:
        typer.echo(f"{a['tracking_id']:<16} rev {a['revision']:<4} {'latest' if a['latest'] else 'old   '} "
                   f"{a['products']:>4} products {len(a['cves']):>3} CVEs  {a['title'][:90]}")


class VulnFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("vulns")
def vulns_cmd(db: DbOpt = DEFAULT_URL,
              format: Annotated[VulnFormat, typer.Option("--format")] = VulnFormat.table,
              asset: Annotated[int | None, typer.Option(min=1, help="one asset id")] = None,
              advisory: Annotated[str | None, typer.Option(help="one advisory (tracking id, e.g. ICSA-20-042-05)")]
              = None,
              cve: Annotated[str | None, typer.Option(help="one CVE id")] = None,
              severity: Annotated[str | None, typer.Option(help="critical | high | medium | low | none")] = None,
              possible: Annotated[bool, typer.Option(help="include 'possible' matches (firmware unknown, a range "
                                                          "that cannot be checked)")] = True,
              refresh: Annotated[bool, typer.Option(help="match the current inventory first")] = True) -> None:
    """Which assets the imported advisories apply to, with the confidence and evidence of each match."""
    from otscope.collector.advisories import store
    from otscope.collector.advisories.match import SEVERITIES
    from otscope.collector.events import labels
    from otscope.collector.uow import unit_of_work

    if severity is not None and severity not in SEVERITIES:
        fail(f"--severity {severity!r}: one of {', '.join(SEVERITIES)}")
    with _factory(db)() as s:
        if refresh:
            with unit_of_work(s):
                store.refresh(s)
        rows, count = store.list_matches(s, store.VulnFilter(asset, advisory, cve, severity,
                                                             None if possible else "affected"))
        names = labels(s, [r.asset_id for r in rows])
        data = [store.as_dict(r, names) for r in rows]
    if format is VulnFormat.json:
        typer.echo(json.dumps({"data": data, "count": count}, indent=1, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tb = Table(title=f"{count} vulnerability matches")
    for col in ("asset", "advisory", "cve", "sev", "cvss", "status", "confidence", "product", "range", "reason"):
        tb.add_column(col, overflow="fold")
    for v in data:
        row = [f"{v['asset_id']} {v['asset'] or ''}", v["advisory"], v["cve"] or "", v["severity"] or "",
               "" if v["score"] is None else f"{v['score']:.1f}", v["status"], v["confidence"], v["product"][:60],
               (v["version_range"] or "")[:40], v["reason"][:80]]
        tb.add_row(*[Text(x) for x in row])         # Text: advisory and wire strings are never parsed as markup
    Console(width=None if sys.stdout.isatty() else 240).print(tb)


zones_app = typer.Typer(help="Zones and Purdue levels (issue 20): the site model, declared or proposed from traffic.")
app.add_typer(zones_app, name="zones")


@zones_app.callback(invoke_without_command=True)
def zones_cmd(ctx: typer.Context, db: DbOpt = DEFAULT_URL,
              format: Annotated[EventFormat, typer.Option("--format")] = EventFormat.table) -> None:
    """Show the site model (declared, accepted or proposed) and each zone's assets."""
    if ctx.invoked_subcommand is not None:
        return
    from otscope.collector import zones

    with _factory(db)() as s:
        model, hosts = zones.current(s)
        out = zones.view(model, hosts)
    if format is EventFormat.json:
        typer.echo(json.dumps(out, indent=1, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tb = Table(title=f"site model: {out['status']} ({len(out['zones'])} zones, {out['unzoned']} assets unzoned)")
    for col in ("zone", "site", "level", "cidrs", "vlans", "assets", "status", "evidence"):
        tb.add_column(col, overflow="fold")
    for z in out["zones"]:
        tb.add_row(*[Text(str(x)) for x in (z["name"], z["site"], "?" if z["level"] is None else z["level"],
                                            " ".join(z["cidrs"]), " ".join(map(str, z["vlans"])), z["assets"],
                                            z["status"], "; ".join(z["evidence"][:2]))])
    Console(width=None if sys.stdout.isatty() else 240).print(tb)


@zones_app.command("load")
def zones_load(file: Annotated[str, typer.Argument(help="a TOML file: site = ..., [[zones]] name, level, cidrs, "
                                                        "vlans")], db: DbOpt = DEFAULT_URL) -> None:
    """Declare the site model from a TOML file (replaces the stored one)."""
    from otscope.collector import zones
    from otscope.collector.uow import unit_of_work

    try:
        with open(file, "rb") as fh:
            data = fh.read(1 << 20)
        parsed = zones.parse_toml(data)
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")
    except zones.ZoneError as exc:
        fail(f"{file}: {exc}")
    with _factory(db)() as s, unit_of_work(s):
        n = zones.replace(s, parsed)
    typer.echo(f"{n} zones declared")


@zones_app.command("accept")
def zones_accept(db: DbOpt = DEFAULT_URL) -> None:
    """Accept the proposed model (inferred from traffic) as the site's."""
    from otscope.collector import zones
    from otscope.collector.uow import unit_of_work

    try:
        with _factory(db)() as s, unit_of_work(s):
            n = zones.accept(s)
    except zones.ZoneError as exc:
        fail(str(exc), 1)
    typer.echo(f"{n} proposed zones accepted")


@app.command("findings")
def findings_cmd(db: DbOpt = DEFAULT_URL,
                 kind: Annotated[str | None, typer.Option(help="level-crossing | it-to-control | flat-network | "
                                                               "dual-homed | public-address")] = None,
                 zone: Annotated[str | None, typer.Option(help="only findings about this zone")] = None,
                 format: Annotated[EventFormat, typer.Option("--format")] = EventFormat.table) -> None:
    """Segmentation findings, each with its evidence."""
    from otscope.collector import findings, zones

    kinds = [k.value for k in findings.FindingKind]
    if kind is not None and kind not in kinds:
        fail(f"--kind {kind!r}: not a kind ({', '.join(kinds)})")
    with _factory(db)() as s:
        model, hosts = zones.current(s)
        found = findings.select_findings(findings.compute(model, hosts, zones.load_convs(s)),
                                         findings.FindingKind(kind) if kind else None, zone)
    data = [f.as_dict() for f in found]
    if format is EventFormat.json:
        typer.echo(json.dumps({"data": data, "count": len(data)}, indent=1, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tb = Table(title=f"{len(data)} findings")
    for col in ("kind", "sev", "summary", "zones", "evidence"):
        tb.add_column(col, overflow="fold")
    for f in data:
        tb.add_row(*[Text(x) for x in (f["kind"], f["severity"], f["summary"], " ".join(f["zones"]),
                                       "; ".join(f["evidence"][:3]))])
    Console(width=None if sys.stdout.isatty() else 240).print(tb)


class TokenScope(str, Enum):
    read = "read"
    write = "write"
    admin = "admin"


@token_app.command("create")
def token_create(db: DbOpt = DEFAULT_URL,
                 scope: Annotated[TokenScope, typer.Option("--scope")] = TokenScope.read,
                 name: Annotated[str, typer.Option(help="a label for the token")] = "",
                 expires_days: Annotated[float | None, typer.Option(
                     "--expires-days", min=0.001, max=3650, help="valid for this many days (default: no expiry)")]
                 = None) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from otscope.api.security import Scope, create_token

    factory = _factory(db)
    with factory() as s, s.begin():
        tok = create_token(s, Scope[scope.value.upper()], name,
                           None if expires_days is None else expires_days * 86400)
    typer.echo(tok)


@token_app.command("list")
def token_list(db: DbOpt = DEFAULT_URL) -> None:
    """List API tokens (id, label, scope, state, dates); never the tokens themselves."""
    import time

    from otscope.api.security import list_tokens
    from otscope.collector.queries import iso

    now = time.time()
    with _factory(db)() as s:
        rows = list_tokens(s)
    typer.echo(f"{'id':>4}  {'scope':<6} {'state':<8} {'created':<28} {'expires':<28} name")
    for t in rows:
        typer.echo(f"{t.id:>4}  {t.scope:<6} {t.state(now):<8} {iso(t.created_at) or '':<28} "
                   f"{iso(t.expires_at) or 'never':<28} {t.name}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(min=1, help="the id shown by `otscope token list`")],
                 db: DbOpt = DEFAULT_URL) -> None:
    """Revoke an API token by its id: it stops working at once."""
    from otscope.api.security import revoke_token

    with _factory(db)() as s, s.begin():
        if not revoke_token(s, token_id):
            fail(f"no token with id {token_id}", 1)
    typer.echo(f"token {token_id} revoked")


JsonlOpt = Annotated[str | None, typer.Option("--events-jsonl", envvar="OTSCOPE_EVENTS_JSONL",
                                              help="append raised events to this file, one JSON object a line")]
SyslogOpt = Annotated[str | None, typer.Option("--syslog", envvar="OTSCOPE_SYSLOG",
                                               help="send raised events as CEF over syslog (RFC 5424): "
                                                    "udp://host:514, tcp://host:601 or tls://host:6514")]
SyslogCaOpt = Annotated[str | None, typer.Option("--syslog-ca", envvar="OTSCOPE_SYSLOG_CA",
                                                 help="for tls:// syslog: PEM file of the CA (or self-signed "
                                                      "certificate) of the receiver (default: the system's CAs)")]
WebhookOpt = Annotated[str | None, typer.Option("--webhook", envvar="OTSCOPE_WEBHOOK",
                                                help="POST raised events as JSON to this URL (retried)")]
QueueOpt = Annotated[str, typer.Option("--events-queue", envvar="OTSCOPE_EVENTS_QUEUE",
                                       help="on-disk queue of events not yet delivered (syslog, webhook)")]
LearningOpt = Annotated[float, typer.Option("--learning-hours", envvar="OTSCOPE_LEARNING_HOURS", min=0, max=8760,
                                            help="a live sensor's first hours are the baseline: new assets, "
                                                 "conversations and writers are recorded, not raised (0: none)")]


def set_event_outputs(jsonl: str | None, syslog: str | None, webhook: str | None, queue: str,
                      learning_hours: float = 24.0, syslog_ca: str | None = None) -> None:
    """The event outputs travel as environment variables (serve --workers processes build their own)."""
    from urllib.parse import urlsplit

    os.environ["OTSCOPE_LEARNING_HOURS"] = repr(float(learning_hours))
    if syslog and (urlsplit(syslog).scheme not in ("udp", "tcp", "tls") or not urlsplit(syslog).hostname):
        fail(f"--syslog {syslog!r}: expected udp://host:port, tcp://host:port or tls://host:port")
    if syslog_ca and not os.path.isfile(syslog_ca):
        fail(f"--syslog-ca {syslog_ca!r}: no such file")
    if syslog_ca and not (syslog or "").startswith("tls://"):
        fail("--syslog-ca needs a tls:// --syslog URL")
    if webhook and urlsplit(webhook).scheme not in ("http", "https"):
        fail(f"--webhook {webhook!r}: expected an http:// or https:// URL")
    for k, v in (("OTSCOPE_EVENTS_JSONL", jsonl), ("OTSCOPE_SYSLOG", syslog), ("OTSCOPE_WEBHOOK", webhook),
                 ("OTSCOPE_EVENTS_QUEUE", queue), ("OTSCOPE_SYSLOG_CA", syslog_ca)):
        if v:
            os.environ[k] = v


@app.command()
def serve(db: DbOpt = DEFAULT_URL,
          host: Annotated[str, typer.Option(help="bind address (default loopback only)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
          workers: Annotated[int, typer.Option(min=1, max=16, help="uvicorn worker processes (2 on a 2-core "
                                                                   "appliance: see README)")] = 1,
          events_jsonl: JsonlOpt = None, syslog: SyslogOpt = None, syslog_ca: SyslogCaOpt = None,
          webhook: WebhookOpt = None,
          events_queue: QueueOpt = "otscope-events-queue", learning_hours: LearningOpt = 24.0) -> None:
    """Serve the API and the dashboard (uvicorn). Off loopback, tokens are required and must exist."""
    import uvicorn

    set_event_outputs(events_jsonl, syslog, webhook, events_queue, learning_hours, syslog_ca)

    from otscope.api.app import create_app
    from otscope.api.security import tokens_configured
    from otscope.api.settings import Settings, is_loopback

    local = is_loopback(host)
    if not local:
        with _factory(db)() as s:
            if not tokens_configured(s):
                fail(f"refusing to bind {host}: no API token configured (otscope token create --db ... "
                     f"--scope read) - every request off loopback must authenticate")
    settings = Settings.from_env(db_url=db, host=host, require_auth=not local)
    typer.echo(f"otscope API on http://{host}:{port}/ (docs /docs, auth {'required' if not local else 'for writes'})",
               err=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", server_header=False)
        return
    # several processes: each builds its app from the environment (the settings travel as variables)
    os.environ.update({"OTSCOPE_DB": db, "OTSCOPE_SERVE_HOST": host, "OTSCOPE_REQUIRE_AUTH": "0" if local else "1"})
    uvicorn.run("otscope.api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", server_header=False)


@app.command()
def sensor(
    interface: Annotated[str, typer.Option("--interface", "-i", help="the SPAN/mirror interface (no IP on it)")],
    collector: Annotated[str | None, typer.Option(help="collector URL, e.g. http://10.0.0.5:8080")] = None,
    token: Annotated[str | None, typer.Option(envvar="OTSCOPE_TOKEN", help="write-scoped API token")] = None,
    db: Annotated[str | None, typer.Option("--db", help="write straight into this database instead")] = None,
    name: Annotated[str, typer.Option("--sensor", help="sensor name")] = "sensor",
    workers: Annotated[int, typer.Option(min=1, max=32, help="processes sharing the traffic (PACKET_FANOUT)")] = 1,
    bpf: Annotated[str | None, typer.Option(help="BPF capture filter")] = None,
    bpf_file: Annotated[str | None, typer.Option(help="file holding the BPF filter (re-read on SIGHUP)")] = None,
    spool: Annotated[str, typer.Option(help="on-disk spool of unacknowledged batches")] = "otscope-spool",
    flush: Annotated[float, typer.Option(min=0.2, help="seconds between batches")] = 10.0,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    user: Annotated[str | None, typer.Option(help="drop to this user after opening the socket")] = None,
    strict_passive: Annotated[bool, typer.Option("--strict-passive", help="refuse to start when the host itself "
                                                 "would transmit on the interface (IPv6 on, an address on it)")]
        = False,
    max_batch_bytes: Annotated[int, typer.Option(min=4096, help="cut batches to this size before spooling "
                                                 "(under the collector's limit, 16 MiB by default)")] = 4 << 20,
    events_jsonl: JsonlOpt = None, syslog: SyslogOpt = None, syslog_ca: SyslogCaOpt = None,
    webhook: WebhookOpt = None,
    events_queue: QueueOpt = "otscope-events-queue", learning_hours: LearningOpt = 24.0,
) -> None:
    """Capture on a SPAN port (receive-only) and ship observations to a collector, losing nothing. With --db the
    event outputs (--events-jsonl, --syslog, --webhook) are this process's; with --collector, the collector's."""
    from otscope.agent.capture import CaptureOpenError, transmit_risks
    from otscope.agent.sensor import SensorConfig, run

    if not collector and not db:
        fail("give --collector URL (with --token) or --db URL")
    if collector and not token:
        fail("--collector needs a write-scoped --token (otscope token create --scope write)")
    set_event_outputs(events_jsonl, syslog, webhook, events_queue, learning_hours, syslog_ca)
    risks = transmit_risks(interface)
    if risks and strict_passive:
        fail(f"refusing to capture on {interface} (--strict-passive): this host would transmit there: "
             f"{'; '.join(risks)}")
    for r in risks:
        typer.echo(f"otscope: WARNING: NOT PASSIVE: {r}", err=True)

    def one(k: int) -> int:
        cfg = SensorConfig(interface=interface, name=name, spool=os.path.join(spool, f"worker-{k}.db"),
                           collector=collector, token=token, db=db, bpf=bpf, bpf_file=bpf_file, flush_every=flush,
                           duration=duration, worker=k, workers=workers, user=user, max_batch_bytes=max_batch_bytes,
                           passive_risks="; ".join(risks))
        try:
            return run(cfg)
        except CaptureOpenError as exc:
            typer.echo(f"otscope: {exc}", err=True)
            return 2

    if workers == 1:
        raise typer.Exit(one(0))
    raise typer.Exit(_run_workers(one, workers))


def _run_workers(one, workers: int) -> int:  # type: ignore[no-untyped-def]
    """Fork the sensor workers and stay their parent: SIGHUP, SIGTERM and SIGINT are forwarded to every worker
    (each reloads its BPF file on SIGHUP, flushes and exits on SIGTERM); a worker dies with the parent."""
    import multiprocessing as mp
    import signal as sg

    from otscope.agent.replay import die_with_parent

    forwarded = (sg.SIGHUP, sg.SIGTERM, sg.SIGINT)
    for sig in forwarded:                      # ignored until the forwarder is in place; workers set their own
        sg.signal(sig, sg.SIG_IGN)
    me = os.getpid()

    def child(k: int) -> None:
        die_with_parent(me, sg.SIGTERM)        # the parent killed: each worker still flushes and exits cleanly
        os._exit(one(k))

    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=child, args=(k,)) for k in range(workers)]
    for p in procs:
        p.start()

    def forward(sig: int, _frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.exitcode is None:
                try:
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    pass

    for sig in forwarded:
        sg.signal(sig, forward)
    for p in procs:
        p.join()
    return max(p.exitcode or 0 for p in procs)


class IdentifyFormat(str, Enum):
    table = "table"
    json = "json"


IDENTIFY_STOPPED = 3             # identify: the stop switch or a quiet window ended the run early


@app.command()
def identify(
    allow: Annotated[list[str] | None, typer.Option("--allow", help="CIDR range requests may go to (repeatable); "
                                                    "without it nothing is sent")] = None,
    gaps: Annotated[bool, typer.Option("--gaps", help="the coverage report's gaps (devices without vendor, "
                                       "product and firmware)")] = False,
    targets: Annotated[list[str] | None, typer.Option("--targets", help="IP or CIDR (repeatable)")] = None,
    interface: Annotated[str | None, typer.Option("--interface", help="send from this interface "
                                                  "(SO_BINDTODEVICE); never the capture interface")] = None,
    source: Annotated[str | None, typer.Option("--source", help="send from this source address")] = None,
    rate: Annotated[str, typer.Option("--rate", help="requests per second over the whole run (N/s or N/min)")]
        = "1/s",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the exact plan and send nothing")] = False,
    db: DbOpt = DEFAULT_URL,
    force: Annotated[list[str] | None, typer.Option(
        "--force", help="IP=PROTO[,PROTO]: try a protocol the device was not seen speaking (Modbus, EtherNet/IP "
                        "or S7, by its --dissectors name)")] = None,
    all_slots: Annotated[bool, typer.Option("--all-slots", help="CIP backplane slots 0-16, not only those "
                                            "seen")] = False,
    quiet: Annotated[list[str] | None, typer.Option("--quiet", help="HH:MM-HH:MM (UTC) when nothing is sent "
                                                    "(repeatable)")] = None,
    stop_file: Annotated[str | None, typer.Option("--stop-file", help="stop as soon as this file exists")]
        = None,
    capture_interface: Annotated[list[str] | None, typer.Option(
        "--capture-interface", help="an interface a sensor captures on (refused; sensors' own are known)")]
        = None,
    operator: Annotated[str, typer.Option("--operator", help="who asked (recorded with every fact and "
                                          "request)")] = os.environ.get("USER") or "cli",
    audit: Annotated[str, typer.Option("--audit", help="audit log: one JSON line per request sent")]
        = "otscope-identify-audit.jsonl",
    timeout: Annotated[float, typer.Option("--timeout", min=0.2, max=30, help="seconds per connect or "
                                           "answer")] = 3.0,
    format: Annotated[IdentifyFormat, typer.Option("--format")] = IdentifyFormat.table,
) -> None:
    """Opt-in, read-only active identification of the gaps (Modbus FC43/FC17, CIP identity, S7 SZL reads).

    Only allow-listed identity reads are sent, to devices inside --allow that were seen speaking the protocol,
    paced by --rate, one connection per device, never from the capture interface. Exit codes: 0 done, 2
    refused (nothing sent), 3 stopped early (stop switch or quiet window), 1 the facts could not be written."""
    from otscope.active.job import IdentifyConfig, execute, prepare
    from otscope.active.plan import PlanRequest
    from otscope.active.safety import Egress, Refused, StopSwitch, parse_rate

    try:
        cfg = IdentifyConfig(
            plan=PlanRequest(targets=tuple(targets or ()), gaps=gaps, allow=tuple(allow or ()),
                             force=tuple(force or ()), all_slots=all_slots),
            operator=operator[:64] or "cli", egress=Egress(interface, source), rate=parse_rate(rate),
            timeout=timeout, quiet=tuple(quiet or ()), stop_file=stop_file,
            capture=tuple(capture_interface or ()), audit_path=None if dry_run else audit)
        factory = _factory(db)
        plan = prepare(factory, cfg)
    except Refused as exc:
        fail(str(exc))
    if dry_run:
        if format is IdentifyFormat.json:
            typer.echo(json.dumps({"dry_run": True, **plan.as_dict()}, indent=1, sort_keys=True))
        else:
            for line in plan.lines():
                typer.echo(line)
            typer.echo(f"dry run: {len(plan.steps)} request(s) planned, nothing sent")
        return
    if not plan.steps:
        fail("nothing to ask: " + ("; ".join(f"{r.target}: {r.reason}" for r in plan.refused[:5]) or "no targets"))
    import signal as sg

    stop = StopSwitch(stop_file)
    for sig in (sg.SIGINT, sg.SIGTERM):
        sg.signal(sig, lambda _s, _f: stop.event.set())
    try:
        report = execute(factory, cfg, plan, stop=stop)
    except Refused as exc:
        fail(str(exc))
    if format is IdentifyFormat.json:
        typer.echo(json.dumps(report.as_dict(), indent=1, sort_keys=True))
    else:
        for t in report.targets():
            typer.echo(f"{t['target']:<16} {t['result']:<12} {t['facts']} fact(s)")
            for st in t["steps"]:
                typer.echo(f"  {st['request']:<74} {st['outcome']}{': ' + st['detail'] if st['detail'] else ''}")
        typer.echo(f"identify: {report.requests_sent} request(s) sent, {len(report.facts)} fact(s) recorded "
                   f"(operator {report.operator}, job {report.job}, audit {audit})")
    if report.ingest_error:
        fail(f"the facts could not be written to the inventory: {report.ingest_error}", 1)
    if report.stopped:
        typer.echo(f"otscope: stopped early: {report.stopped}", err=True)
        raise typer.Exit(IDENTIFY_STOPPED)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        typer.echo("otscope: interrupted", err=True)
        code = 130
    # Everything is committed and flushed by now: skip the interpreter's teardown of large structures.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
