#!/usr/bin/env python3
"""Sample lookups against a running IKO stack (``make up``), printed readably.

1. a persoon (BSN) and a bedrijf (KVK number) lookup: both must come back complete, every source ok; the person's
   contact moments (Klantinteracties) and BAG address, the company's contact moments;
   then the object view: an ``adres`` lookup (BAG object and pand, residents, zaken, registrations), and the
   address search that leads to it;
2. a deadline: the BRP simulator is told to hang, a persoon lookup with ``timeout_ms`` 1000 must come
   back partial within about a second; the simulator's behaviour is reset afterwards, whatever happened;
3. an inzage: who saw the demo's person, asked of the audit trail until the demo's own lookups are in it
   (the audit service stores them asynchronously), printed as a table, then the citizen's form of it.

Exit 0 when every view is as expected, 1 otherwise, 2 when the gateway cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

PERSOON = {"identifier": {"type": "bsn", "value": "999993653"}}
BEDRIJF = {"identifier": {"type": "kvk", "value": "69599084"}}
FAMILY_BSN = "999995248"  # a partner and eleven children in the BRP test data
DEADLINE_MS = 1000
# How long the audit trail may take to hold the demo's lookups (consumed from the queue, then stored).
INZAGE_WAIT_S = 30.0
# Every inzage is recorded itself, so each poll adds a row ahead of the lookups: a page wide enough for them.
INZAGE_PAGE_SIZE = 100
ROOT = Path(__file__).resolve().parent.parent


def from_state_file(namespace: str) -> tuple[str | None, str | None]:
    """The gateway and BRP simulator URLs of the stack ``stack.py up`` started for ``namespace``, if any."""
    try:
        data = json.loads((ROOT / ".run" / namespace / "pids" / "state.json").read_text(encoding="utf-8"))
        config = data["config"]
        gateway = str(config["gateway_url"])
        ports = config["sandbox_ports"]
        # A mapping by source; state files of older stacks hold a list in BRP, KVK, ZGW order.
        brp_port = ports["brp"] if isinstance(ports, dict) else ports[0]
        brp = f"http://127.0.0.1:{int(brp_port)}" if config.get("sandbox") else None
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None, None
    return gateway, brp


def default_gateway() -> str:
    host = os.environ.get("IKO_GATEWAY_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{os.environ.get('IKO_GATEWAY_PORT') or '8080'}"


# Development mode (make up / make demo switch it on): this key has every role, and every profile serves "demo".
DEV_API_KEY = os.environ.get("IKO_DEV_API_KEY") or "iko-dev-key"
AUTH_HEADERS = {"X-API-Key": DEV_API_KEY, "x-doelbinding": "demo", "x-verwerking": "Demonstratie"}


def curl_line(url: str, body: dict[str, Any]) -> str:
    headers = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in AUTH_HEADERS.items())
    return f"curl -sS -X POST {url} -H 'Content-Type: application/json' {headers} -d {shlex.quote(json.dumps(body))}"


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def problems_with_view(view: Any, profile: str, *, expect_complete: bool) -> list[str]:
    """What is wrong with a combined view (empty when it is as expected)."""
    if not isinstance(view, dict):
        return [f"the answer is not a JSON object: {view!r}"]
    problems = []
    if view.get("profile") != profile:
        problems.append(f"profile is {view.get('profile')!r}, expected {profile!r}")
    sources = view.get("sources")
    if not isinstance(sources, dict) or not sources:
        return [*problems, "no sources in the view"]
    if expect_complete:
        if view.get("status") != "complete":
            problems.append(f"status is {view.get('status')!r}, expected 'complete'")
        if view.get("completed_by") != "all_sources":
            problems.append(f"completed_by is {view.get('completed_by')!r}, expected 'all_sources'")
        for name, source in sources.items():
            status = source.get("status") if isinstance(source, dict) else None
            if status != "ok":
                problems.append(f"source {name} has status {status!r}, expected 'ok'")
    else:
        if view.get("status") != "partial":
            problems.append(f"status is {view.get('status')!r}, expected 'partial'")
        if view.get("completed_by") != "deadline":
            problems.append(f"completed_by is {view.get('completed_by')!r}, expected 'deadline'")
        brp = sources.get("brp")
        brp_status = brp.get("status") if isinstance(brp, dict) else None
        if brp_status not in ("timeout", "error"):
            problems.append(f"brp has status {brp_status!r}, expected 'timeout' while the simulator hangs")
    return problems


def lookup(client: httpx.Client, gateway: str, profile: str, body: dict[str, Any]) -> tuple[Any, float]:
    url = f"{gateway}/api/v1/profiles/{profile}/lookups"
    print(f"$ {curl_line(url, body)}")
    started = time.monotonic()
    response = client.post(url, json=body)
    elapsed = time.monotonic() - started
    print(f"HTTP {response.status_code} in {elapsed * 1000:.0f} ms")
    try:
        view: Any = response.json()
    except ValueError:
        view = response.text
    print(json.dumps(view, indent=2, ensure_ascii=False) if not isinstance(view, str) else view)
    if not response.is_success:
        return {"http_status": response.status_code, "body": view}, elapsed
    return view, elapsed


def relations_demo(client: httpx.Client, gateway: str) -> list[str]:
    """A lookup whose answer follows relations: partners and children, and the zaken of each partner."""
    heading("A lookup with relations: partners and children, and the zaken of each partner")
    url = f"{gateway}/api/v1/profiles/persoon/lookups"
    body = {"identifier": {"type": "bsn", "value": FAMILY_BSN}}
    print(f"$ {curl_line(url, body)}")
    response = client.post(url, json=body)
    if not response.is_success:
        return [f"relations lookup: HTTP {response.status_code}"]
    answer = response.json()
    view = answer.get("view") or {}
    branches = answer.get("branches") or {}
    print(
        f"-> status={answer.get('status')}, {len(answer.get('sources', {}))} fragments, branches: {', '.join(branches)}"
    )
    person = view.get("persoon") or {}
    print(f"   persoon: {person.get('naam', {}).get('volledigeNaam')} ({len(view.get('zaken', []))} zaken)")
    for partner in view.get("partners", []):
        naam = (partner.get("persoon") or {}).get("naam", {}).get("volledigeNaam")
        print(f"   partner: {naam} ({len(partner.get('zaken', []))} zaken)")
    kinderen = [k.get("naam", {}).get("volledigeNaam") for k in view.get("kinderen", [])]
    print(f"   kinderen ({len(kinderen)}): {', '.join(str(k) for k in kinderen)}")
    problems = []
    if answer.get("status") != "complete":
        problems.append(f"relations lookup is {answer.get('status')}")
    if not view.get("partners") or not kinderen:
        problems.append("the relations lookup found no partner or no children")
    return problems


def contact_lines(view: Any) -> tuple[list[str], list[str]]:
    """What a persoon or bedrijf view says of its contact moments and (persoon) BAG address, and what is missing."""
    shown = view.get("view") if isinstance(view, dict) else None
    if not isinstance(shown, dict):
        return [], ["the answer has no view"]
    lines, problems = [], []
    contacts = shown.get("contactmomenten") or []
    lines.append(f"   contactmomenten ({len(contacts)}):")
    for contact in contacts[:3]:
        lines.append(
            f"     {contact.get('plaatsgevondenOp', '?')[:10]} {contact.get('kanaal')}: {contact.get('onderwerp')}"
        )
    if not contacts:
        problems.append("no contact moments in the view")
    if view.get("profile") == "persoon":
        adres = shown.get("adres")
        if not isinstance(adres, dict):
            problems.append("no BAG address in the view")
        else:
            building = adres.get("adresseerbaarObject") or {}
            pand = adres.get("pand") or {}
            lines.append(
                f"   adres (BAG): {adres.get('openbareRuimteNaam')} {adres.get('huisnummer')}, {adres.get('postcode')}"
                f" {adres.get('woonplaatsNaam')}; {', '.join(building.get('gebruiksdoelen') or [])},"
                f" {building.get('oppervlakte')} m2, bouwjaar {pand.get('oorspronkelijkBouwjaar')}"
            )
    return lines, problems


def object_view_lines(shown: Any) -> tuple[list[str], list[str]]:
    """What an adres view shows (object, residents, zaken, registrations), and what is missing."""
    if not isinstance(shown, dict) or not isinstance(shown.get("adres"), dict):
        return [], ["the adres view has no address"]
    adres, building = shown["adres"], shown.get("object") or {}
    lines = [
        f"   adres: {adres.get('openbareRuimteNaam')} {adres.get('huisnummer')}, {adres.get('postcode')}"
        f" {adres.get('woonplaatsNaam')}",
        f"   object {building.get('identificatie')}: {', '.join(building.get('gebruiksdoelen') or [])},"
        f" {building.get('oppervlakte')} m2; panden: "
        + ", ".join(
            f"{p.get('identificatie')} (bouwjaar {p.get('oorspronkelijkBouwjaar')})" for p in shown.get("panden") or []
        ),
    ]
    residents = shown.get("bewoners") or []
    lines.append(
        f"   bewoners ({len(residents)}): "
        + ", ".join(str((r.get("naam") or {}).get("volledigeNaam")) for r in residents)
    )
    zaken = shown.get("zaken") or []
    lines.append(f"   zaken ({len(zaken)}):")
    lines += [f"     {z.get('identificatie')}: {z.get('zaaktype_omschrijving')}" for z in zaken]
    registrations = shown.get("registraties") or []
    lines.append(f"   registraties ({len(registrations)}):")
    for registration in registrations:
        data = (registration.get("record") or {}).get("data") or {}
        lines.append(
            f"     {registration.get('objecttypeNaam')}: {data.get('toelichting') or data.get('vergunningnummer')}"
        )
    problems = [
        f"the adres view has no {name}"
        for name, found in (
            ("object", building),
            ("bewoners", residents),
            ("zaken", zaken),
            ("registraties", registrations),
        )
        if not found
    ]
    return lines, problems


def object_view_demo(client: httpx.Client, gateway: str) -> list[str]:
    """The object view: an address found by postcode and house number, then everything the sources know of it."""
    heading("The object view: an address by postcode and house number, then its adres lookup")
    url = f"{gateway}/api/v1/profiles/adres/searches"
    # Boterdiep 31, Rotterdam: the demo person's address, with zaken about it and meldingen openbare ruimte.
    body = {"action": "postcode-huisnummer", "filters": {"postcode": "3077AW", "huisnummer": 31}}
    print(f"$ {curl_line(url, body)}")
    response = client.post(url, json=body)
    if not response.is_success:
        return [f"adres search: HTTP {response.status_code} {response.text[:200]}"]
    rows = response.json()["rows"]
    for row in rows:
        street = f"{row.get('straat')} {row.get('huisnummer')}"
        print(f"   {row.get('nummeraanduiding')}  {street}, {row.get('postcode')} {row.get('woonplaats')}")
    if not rows:
        return ["the adres search found no address"]
    view, _ = lookup(
        client, gateway, "adres", {"identifier": {"type": "nummeraanduiding", "value": rows[0]["nummeraanduiding"]}}
    )
    problems = problems_with_view(view, "adres", expect_complete=True)
    lines, missing = object_view_lines(view.get("view") if isinstance(view, dict) else None)
    print(f"-> {summary(view)}")
    print("\n".join(lines))
    return [f"adres: {p}" for p in problems + missing]


def search_demo(client: httpx.Client, gateway: str) -> list[str]:
    """A search action of the persoon profile, one page of rows with the profile's columns."""
    heading("A search: persons at a postcode and house number, first page")
    url = f"{gateway}/api/v1/profiles/persoon/searches"
    body = {"action": "postcode-huisnummer", "filters": {"postcode": "2596TW", "huisnummer": 1}, "page_size": 5}
    print(f"$ {curl_line(url, body)}")
    response = client.post(url, json=body)
    if not response.is_success:
        return [f"search: HTTP {response.status_code} {response.text[:200]}"]
    page = response.json()
    columns = [c["key"] for c in page["columns"]]
    print(f"-> {page['total']} found, page {page['page']} of size {page['page_size']}")
    print("   " + " | ".join(c["title"] for c in page["columns"]))
    for row in page["rows"]:
        print("   " + " | ".join(str(row.get(c) or "") for c in columns))
    return [] if page["rows"] else ["the search found nobody"]


def _when(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return str(value)


def _what(disclosure: dict[str, Any]) -> str:
    sources = []
    for source in disclosure.get("sources") or []:
        fields = source.get("fields") or []
        detail = f" ({len(fields)} fields)" if fields else ""
        status = source.get("status")
        sources.append(
            f"{source.get('source')} {source.get('operation')}{detail}" + (f" {status}" if status != "ok" else "")
        )
    return f"{disclosure.get('kind')} {disclosure.get('profile')}: {', '.join(sources) or 'nothing'}"


def inzage_rows(disclosures: Sequence[dict[str, Any]], since: datetime) -> tuple[list[tuple[str, ...]], int]:
    """The table of disclosures since ``since`` (when, who, why, what, outcome) and how many inzages are left out.

    Inzages are counted rather than listed: each of the demo's polls was recorded as one.
    """
    rows: list[tuple[str, ...]] = []
    inzages = 0
    for d in disclosures:
        try:
            started = datetime.fromisoformat(str(d.get("started_at")))
        except ValueError:
            continue
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started < since:
            continue
        if d.get("kind") == "inzage":
            inzages += 1
            continue
        who = str(d.get("gebruiker") or d.get("client") or "?")
        why = f"{d.get('doelbinding')} ({d.get('verwerking')})"
        rows.append((_when(d.get("started_at")), who, why, _what(d), str(d.get("outcome"))))
    return rows, inzages


def missing_lookups(answer: Any, request_ids: Collection[str]) -> set[str]:
    """The demo's request ids the inzage answer does not list yet (all of them when it is not an answer)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("disclosures"), list):
        return set(request_ids)
    listed = {d.get("request_id") for d in answer["disclosures"] if isinstance(d, dict)}
    return set(request_ids) - listed


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    widths[3] = min(widths[3], 90)
    for row in (header, *rows):
        cells = [str(c) if len(str(c)) <= w else str(c)[: w - 1] + "…" for c, w in zip(row, widths, strict=True)]
        print("   " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


def inzage_demo(
    client: httpx.Client, gateway: str, identifier: dict[str, str], request_ids: Collection[str], since: datetime
) -> list[str]:
    """Who saw the person: the privacy officer's inzage, polled until it holds the demo's own lookups."""
    heading(f"inzage: every disclosure about {identifier['type']} {identifier['value']}, newest first")
    if not request_ids:
        return ["inzage: no lookup of the demo's person answered, so there is nothing to look for"]
    url = f"{gateway}/api/v1/inzage"
    body = {"identifier": identifier, "page": 1, "page_size": INZAGE_PAGE_SIZE}
    print(f"$ {curl_line(url, body)}")
    started = time.monotonic()
    pause = 0.25
    answer: Any = None
    last = "no answer"
    asks = 0
    while True:
        asks += 1
        try:
            response = client.post(url, json=body)
        except httpx.HTTPError as exc:
            response, last = None, f"{type(exc).__name__}: {exc}"
        if response is not None:
            last = f"HTTP {response.status_code} {response.text[:200]}"
            if response.status_code in (401, 403, 404, 405, 422):
                return [f"inzage: {last}"]  # waiting will not change these
            if response.is_success:
                answer = response.json()
                if not missing_lookups(answer, request_ids):
                    break
                last = f"{len(missing_lookups(answer, request_ids))} of the demo's lookups not stored yet"
        if time.monotonic() - started >= INZAGE_WAIT_S:
            return [f"inzage: the demo's lookups were not in the audit trail after {INZAGE_WAIT_S:.0f} s ({last})"]
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    rows, inzages = inzage_rows(answer["disclosures"], since)
    print(
        f"HTTP 200: {answer.get('total')} disclosures in all; the demo's {len(request_ids)} lookup(s) of this person "
        f"listed after {asks} ask(s) in {time.monotonic() - started:.1f} s. This run's:"
    )
    print_table(("when", "who", "why", "what", "outcome"), rows)
    if inzages:
        print(f"   (and {inzages} inzage(s): each is recorded too, these are the demo's own polls)")

    citizen_url = f"{gateway}/api/v1/inzage/burger"
    citizen_body = {"identifier": identifier, "page": 1, "page_size": INZAGE_PAGE_SIZE}
    print(f"\nThe citizen's form: no case worker, system or source.\n$ {curl_line(citizen_url, citizen_body)}")
    try:
        response = client.post(citizen_url, json=citizen_body)
    except httpx.HTTPError as exc:
        return [f"inzage (citizen's form): {exc}"]
    if not response.is_success:
        return [f"inzage (citizen's form): HTTP {response.status_code} {response.text[:200]}"]
    page = response.json()
    # The newest rows are the demo's own inzages: show a lookup's, which says what the citizen was seen for.
    shown = [r for r in page.get("verwerkingen") or [] if r.get("verwerkingsactiviteit") != "inzage"][:1]
    print(f"HTTP 200: {page.get('total')} verwerkingen; the newest that is not an inzage:")
    for row in shown:
        print(json.dumps(row, indent=2, ensure_ascii=False))
    return [] if rows else ["inzage: none of this run's disclosures are listed"]


def summary(view: Any) -> str:
    if not isinstance(view, dict):
        return "no view"
    sources = view.get("sources")
    if not isinstance(sources, dict):
        sources = {}
    per_source = ", ".join(
        f"{name}={src.get('status') if isinstance(src, dict) else '?'}" for name, src in sorted(sources.items())
    )
    return f"status={view.get('status')} completed_by={view.get('completed_by')} [{per_source}]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--namespace",
        default=os.environ.get("IKO_NAMESPACE") or "iko",
        help="the stack whose state file gives the default URLs (env IKO_NAMESPACE, default iko)",
    )
    parser.add_argument("--gateway", help="default: the stack's, else from IKO_GATEWAY_HOST/PORT")
    parser.add_argument(
        "--brp-sandbox", help="the BRP simulator; default: the stack's, else IKO_BRP_BASE_URL or port 8101"
    )
    parser.add_argument("--skip-deadline", action="store_true", help="leave out the deadline demonstration")
    parser.add_argument("--skip-inzage", action="store_true", help="leave out the inzage of the audit trail")
    args = parser.parse_args(argv)
    state_gateway, state_brp = from_state_file(args.namespace)
    gateway = (args.gateway or state_gateway or default_gateway()).rstrip("/")
    brp = (args.brp_sandbox or state_brp or os.environ.get("IKO_BRP_BASE_URL") or "http://127.0.0.1:8101").rstrip("/")
    failures: list[str] = []
    # The audit trail's clock is this machine's; a second's slack for the rounding of stored times.
    since = datetime.now(UTC) - timedelta(seconds=1)
    persoon_ids: list[str] = []

    with httpx.Client(timeout=30.0, trust_env=False, headers=AUTH_HEADERS) as client:
        try:
            ready = client.get(f"{gateway}/readyz")
        except httpx.HTTPError as exc:
            print(f"demo: the gateway at {gateway} does not answer ({exc}); start the stack with `make up`")
            return 2
        if ready.status_code != 200:
            print(f"demo: {gateway}/readyz answers {ready.status_code}, not 200: the stack is not ready")
            return 2

        for profile, body in (("persoon", PERSOON), ("bedrijf", BEDRIJF)):
            heading(f"{profile} lookup")
            view, _ = lookup(client, gateway, profile, body)
            problems = problems_with_view(view, profile, expect_complete=True)
            print(f"-> {summary(view)}" + ("" if not problems else "  NOT AS EXPECTED: " + "; ".join(problems)))
            lines, missing = contact_lines(view)
            print("\n".join(lines))
            failures += [f"{profile}: {p}" for p in problems + missing]
            if profile == "persoon" and isinstance(view, dict) and view.get("request_id"):
                persoon_ids.append(str(view["request_id"]))

        failures += object_view_demo(client, gateway)
        failures += relations_demo(client, gateway)
        failures += search_demo(client, gateway)

        if not args.skip_deadline:
            heading(f"deadline: BRP hangs, persoon lookup with timeout_ms {DEADLINE_MS}")
            behaviour = f"{brp}/__sandbox__/behaviour"
            print(f"$ curl -sS -X PUT {behaviour} -H 'Content-Type: application/json' -d '{{\"mode\":\"hang\"}}'")
            try:
                put = client.put(behaviour, json={"mode": "hang"})
                print(f"HTTP {put.status_code}")
                if not put.is_success:
                    failures.append(f"deadline: the BRP simulator refused the hang behaviour ({put.status_code})")
                else:
                    view, elapsed = lookup(client, gateway, "persoon", {**PERSOON, "timeout_ms": DEADLINE_MS})
                    problems = problems_with_view(view, "persoon", expect_complete=False)
                    print(f"-> {summary(view)}, answered after {elapsed:.2f} s (deadline {DEADLINE_MS / 1000:.1f} s)")
                    if problems:
                        print("   NOT AS EXPECTED: " + "; ".join(problems))
                    failures += [f"deadline: {p}" for p in problems]
                    if isinstance(view, dict) and view.get("request_id"):
                        persoon_ids.append(str(view["request_id"]))
            except httpx.HTTPError as exc:
                failures.append(f"deadline: {exc}")
            finally:
                print(f"$ curl -sS -X DELETE {behaviour}")
                try:
                    reset = client.delete(behaviour)
                    print(f"HTTP {reset.status_code}: BRP simulator behaviour reset")
                except httpx.HTTPError as exc:
                    failures.append(f"could not reset the BRP simulator's behaviour: {exc}")

        if not args.skip_inzage:
            failures += inzage_demo(client, gateway, PERSOON["identifier"], persoon_ids, since)

    heading("result")
    if failures:
        for failure in failures:
            print(f"FAILED {failure}")
        return 1
    print("every view is as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
