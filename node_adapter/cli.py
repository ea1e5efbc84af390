"""`agora-node`: the node adapter's command line.

Settings come from a TOML config file (--config or AGORA_NODE_CONFIG), the environment
(AGORA_NODE_*), then the flags. Errors in settings exit with status 2 and a plain message;
secrets are never printed. Imports of the heavier modules happen inside the commands, so
`--help` is fast and nothing of Django is ever imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from node_adapter.config import ConfigError, Settings, load_settings
from node_adapter.sources import SourceError

log = logging.getLogger("node_adapter.cli")

PROG = "agora-node"
RDF_FORMATS = ("ttl", "jsonld", "rdf", "nt")

SETTINGS_HELP = """\
settings (config file keys; environment AGORA_NODE_<KEY>; flags override both):
  site_secret, site_secret_file  HMAC key of the pseudonyms (>= 16 bytes; required to ingest)
  site_id                        names the site in UIDs and in the catalogue
  lake                           the data lake folder
  hub_url, token, node_id        where `push` sends the catalogue, and as whom
  base_url                       public address of this node's catalogue
  orthanc_user, orthanc_password credentials of an Orthanc source
  retain_longitudinal_dates, retain_device_identity, retain_patient_characteristics
  safe_private_tags              private tags kept: group, private creator, element, e.g.
                                 "0009,GEMS_IDEN_01,04;0019,SIEMENS MR HEADER,0A"
  ae_title, listen_host, listen_port, serve_host, serve_port, page_size
  publisher_name, contact_name, contact_email, access_rights   how the catalogue presents the site
  min_subjects                   fewest subjects behind an age/date range or a sex count (5)
config file: --config PATH or AGORA_NODE_CONFIG, TOML with the keys above, e.g.
  lake = "/srv/agora/lake"
  site_id = "clinic-a"
  site_secret_file = "/etc/agora/site-secret"
"""


class CommandError(Exception):
    """A usage problem found while running a command (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's parser would otherwise reset what was given before it.
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="TOML config file (default: $AGORA_NODE_CONFIG)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log output (-vv: debug)",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only warnings and errors",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Agora provider node: de-identify DICOM into the site's data lake and "
        "publish aggregated metadata to the hub.",
        epilog=SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_ingest(commands, common)
    _add_describe(commands, common)
    _add_listen(commands, common)
    _add_serve(commands, common)
    _add_push(commands, common)
    _add_review(commands, common)
    return parser


def _command(commands: Any, common: argparse.ArgumentParser, name: str, summary: str, text: str):
    return commands.add_parser(
        name,
        help=summary,
        description=text,
        epilog=SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )


def _add_lake(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument(
        "--lake", type=Path, default=default, help="the data lake folder (setting: lake)"
    )


def _add_ingest(commands: Any, common: argparse.ArgumentParser) -> None:
    p = _command(
        commands,
        common,
        "ingest",
        "de-identify a folder or an Orthanc server into the lake",
        "Read every instance of SOURCE, de-identify it (DICOM PS3.15 basic profile, keyed "
        "pseudonyms, remapped UIDs) and store it once in the lake as "
        "<subject>/<study>/<series>/<instance>.dcm. Files that are not DICOM, are corrupt or "
        "may show burned-in identity are quarantined (<lake>/.agora/quarantine) with their "
        "reason, and the run goes on. With --dataset, the studies of this run are added to a "
        "new version of that dataset (a manifest; nothing is copied). Re-running on the same "
        "source stores nothing new.",
    )
    p.add_argument(
        "--source",
        required=True,
        help="a folder (read recursively) or an Orthanc URL (http[s]://host:8042)",
    )
    _add_lake(p)
    p.add_argument("--dataset", help="publish the ingested studies as a version of this dataset")
    p.add_argument("--title", default="", help="the dataset's title (kept from the last version)")
    p.add_argument("--description", default="", help="the dataset's description")
    p.add_argument("--site-id", help="names the site in UIDs and the catalogue (setting: site_id)")
    p.add_argument("--orthanc-user", help="Orthanc user name (setting: orthanc_user)")
    p.add_argument(
        "--orthanc-password",
        help="Orthanc password (prefer AGORA_NODE_ORTHANC_PASSWORD: flags show in `ps`)",
    )
    p.add_argument("--dicomweb", action="store_true", help="read Orthanc through DICOMweb")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    p.set_defaults(run=cmd_ingest)


def _add_describe(commands: Any, common: argparse.ArgumentParser) -> None:
    p = _command(
        commands,
        common,
        "describe",
        "print a dataset's aggregated metadata (DCAT or MIABIS)",
        "Print the aggregated description of a dataset version (counts, modalities, body "
        "parts, sex counts, age and date ranges; no per-patient value) to standard output, "
        "as DCAT RDF (ttl, jsonld, rdf = RDF/XML, nt) or as a MIABIS Collection (JSON). "
        "Without --dataset, every dataset of the lake.",
    )
    _add_lake(p)
    p.add_argument("--dataset", help="the dataset (default: all of them)")
    p.add_argument("--version", type=int, dest="dataset_version", help="default: the latest")
    p.add_argument("--format", choices=(*RDF_FORMATS, "miabis"), default="ttl")
    p.add_argument("--base-url", help="public address of this node (setting: base_url)")
    p.add_argument("--site-id", help="the site's name (setting: site_id)")
    p.set_defaults(run=cmd_describe)


def _add_listen(commands: Any, common: argparse.ArgumentParser) -> None:
    p = _command(
        commands,
        common,
        "listen",
        "receive instances from a modality or PACS (DICOM Storage SCP)",
        "Accept C-STORE (and C-ECHO) on HOST:PORT as AE title AE_TITLE; every instance "
        "received is de-identified and stored like `ingest` does. With --dataset, each "
        "association's new studies are added to a new version of that dataset.",
    )
    _add_lake(p)
    p.add_argument("--ae-title", help="this node's AE title (setting: ae_title; default AGORA)")
    p.add_argument("--host", help="address to listen on (setting: listen_host; 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (setting: listen_port; default 11112)")
    p.add_argument("--dataset", help="publish received studies as versions of this dataset")
    p.add_argument("--site-id", help="names the site in UIDs (setting: site_id)")
    p.set_defaults(run=cmd_listen)


def _add_serve(commands: Any, common: argparse.ArgumentParser) -> None:
    p = _command(
        commands,
        common,
        "serve",
        "serve the DCAT catalogue for the hub to harvest",
        "Answer GET /dcat (paged with Hydra, every RDF serialisation by content negotiation or "
        "?format=, ETag and Last-Modified) and GET /health until interrupted.",
    )
    _add_lake(p)
    p.add_argument("--host", help="address to listen on (setting: serve_host; 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (setting: serve_port; default 8080)")
    p.add_argument("--base-url", help="public address of this node (setting: base_url)")
    p.add_argument("--site-id", help="the site's name (setting: site_id)")
    p.set_defaults(run=cmd_serve)


def _add_push(commands: Any, common: argparse.ArgumentParser) -> None:
    p = _command(
        commands,
        common,
        "push",
        "send the catalogue to the hub",
        "POST the description of every dataset to the hub's push endpoint "
        "(/api/v1/nodes/<node id>/records) with the node token, and print the hub's report.",
    )
    _add_lake(p)
    p.add_argument("--hub", dest="hub_url", help="the hub's address (setting: hub_url)")
    p.add_argument("--token", help="the node token (prefer AGORA_NODE_TOKEN: flags show in `ps`)")
    p.add_argument("--node-id", help="this node's id at the hub (setting: node_id)")
    p.add_argument("--base-url", help="public address of this node (setting: base_url)")
    p.add_argument("--site-id", help="the site's name (setting: site_id)")
    p.set_defaults(run=cmd_push)


def _add_review(commands: Any, common: argparse.ArgumentParser) -> None:
    p = _command(
        commands,
        common,
        "review",
        "list or resolve crosswalk flags (site staff)",
        "List the crosswalk's open flags: arrivals with the same patient ID but other "
        "demographics, or the same demographics under another ID. `review resolve ID --note "
        "TEXT` closes one with the reviewer's note.",
    )
    _add_lake(p)
    p.add_argument("--all", action="store_true", help="include resolved flags")
    p.set_defaults(run=cmd_review)
    actions = p.add_subparsers(dest="review_action", metavar="ACTION")
    resolve = actions.add_parser(
        "resolve",
        help="close a flag",
        description="Mark flag ID as reviewed, with a note saying what was decided.",
        parents=[common],
    )
    _add_lake(resolve, default=argparse.SUPPRESS)  # `review --lake X resolve 3` keeps X
    resolve.add_argument("flag_id", type=int, metavar="ID")
    resolve.add_argument("--note", required=True, help="what was checked or decided")
    resolve.set_defaults(run=cmd_review_resolve)


# -- commands ---------------------------------------------------------------------


def _settings(args: argparse.Namespace, **flags: Any) -> Settings:
    return load_settings(getattr(args, "config", None), overrides=flags)


def _lake(settings: Settings, *, create: bool):
    from node_adapter.lake import Lake

    return Lake(settings.lake_path(must_exist=not create))


def cmd_ingest(args: argparse.Namespace) -> int:
    from node_adapter.ingest import ingest
    from node_adapter.progress import Progress

    settings = _settings(
        args,
        lake=args.lake,
        site_id=args.site_id,
        orthanc_user=args.orthanc_user,
        orthanc_password=args.orthanc_password,
    )
    config = settings.deid_config()
    source = _source(args.source, settings, dicomweb=args.dicomweb)
    lake = _lake(settings, create=True)
    progress = None if args.no_progress else Progress(source.count(), label="ingest")
    try:
        report = ingest(
            source,
            lake,
            config,
            dataset=args.dataset,
            progress=progress,
            title=args.title,
            description=args.description,
        )
    finally:
        if progress is not None:
            progress.close()
        lake.close()
    print(report.summary())
    for reason, count in sorted(report.reasons.items()):
        print(f"quarantined={count} reason={reason!r}")
    if report.flags:
        print(f"{report.flags} new crosswalk flag(s): see `{PROG} review`")
    return 0


def _source(spec: str, settings: Settings, *, dicomweb: bool):
    if spec.startswith(("http://", "https://")):
        from node_adapter.orthanc import OrthancSource

        return OrthancSource(
            spec,
            username=settings.orthanc_user,
            password=settings.orthanc_password,
            dicomweb=dicomweb,
        )
    from node_adapter.sources import FolderSource

    if dicomweb:
        raise CommandError("--dicomweb needs an Orthanc URL as --source")
    if not Path(spec).exists():
        raise CommandError(f"source not found: {spec}")
    return FolderSource(Path(spec))


def cmd_describe(args: argparse.Namespace) -> int:
    from node_adapter import describe as describing

    settings = _settings(args, lake=args.lake, base_url=args.base_url, site_id=args.site_id)
    lake = _lake(settings, create=False)
    names = [args.dataset] if args.dataset else lake.datasets()
    if args.dataset_version is not None and not args.dataset:
        raise CommandError("--version needs --dataset")
    descriptions = [
        describing.describe(
            lake,
            name,
            version=args.dataset_version,
            base_url=settings.base_url,
            site=settings.site_id,
            **settings.describe_options(),
        )
        for name in names
    ]
    if args.format == "miabis":
        documents = [describing.to_miabis(d) for d in descriptions]
        payload = documents[0] if args.dataset else documents
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        data = describing.to_rdf(descriptions, base_url=settings.base_url, fmt=args.format)
        sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    from node_adapter.scp import serve_storage_scp

    settings = _settings(
        args,
        lake=args.lake,
        site_id=args.site_id,
        ae_title=args.ae_title,
        listen_host=args.host,
        listen_port=args.port,
    )
    config = settings.deid_config()
    lake = _lake(settings, create=True)
    try:
        serve_storage_scp(
            lake=lake,
            config=config,
            ae_title=settings.ae_title,
            host=settings.listen_host,
            port=settings.listen_port,
            dataset=args.dataset,
            block=True,
        )
    except KeyboardInterrupt:
        pass
    finally:
        lake.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from node_adapter import serve

    settings = _settings(
        args,
        lake=args.lake,
        serve_host=args.host,
        serve_port=args.port,
        base_url=args.base_url,
        site_id=args.site_id,
    )
    lake = _lake(settings, create=False)
    try:
        serve.run(
            lake,
            host=settings.serve_host,
            port=settings.serve_port,
            base_url=settings.base_url,
            site=settings.site_id,
            page_size=settings.page_size,
            **settings.describe_options(),
        )
    except KeyboardInterrupt:
        pass
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from node_adapter import push

    settings = _settings(
        args,
        lake=args.lake,
        hub_url=args.hub_url,
        token=args.token,
        node_id=args.node_id,
        base_url=args.base_url,
        site_id=args.site_id,
    )
    missing = [
        flag
        for flag, value in (
            ("--hub", settings.hub_url),
            ("--token", settings.token),
            ("--node-id", settings.node_id),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"push needs {', '.join(missing)} (or hub_url, token, node_id in the config or "
            "AGORA_NODE_HUB_URL, AGORA_NODE_TOKEN, AGORA_NODE_NODE_ID)"
        )
    lake = _lake(settings, create=False)
    try:
        report = push.push(
            lake,
            hub_url=settings.hub_url,
            token=settings.token,
            node_id=settings.node_id,
            base_url=settings.base_url,
            site=settings.site_id,
            **settings.describe_options(),
        )
    except push.PushError as exc:
        print(f"{PROG} push: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from node_adapter.ingest import crosswalk_for

    lake = _lake(_settings(args, lake=args.lake), create=False)
    flags = crosswalk_for(lake).flags(open_only=not args.all)
    if not flags:
        print("no open flags" if not args.all else "no flags")
        return 0
    rows = [("ID", "KIND", "SUBJECT", "OTHER", "CREATED", "STATE", "DETAIL / NOTE")]
    for f in flags:
        state = "resolved" if f.resolved else "open"
        text = f.detail + (f" / {f.note}" if f.note else "")
        rows.append((str(f.id), f.kind, f.subject, f.other_subject or "-", f.created, state, text))
    print(_table(rows))
    return 0


def cmd_review_resolve(args: argparse.Namespace) -> int:
    from node_adapter.ingest import crosswalk_for

    lake = _lake(_settings(args, lake=args.lake), create=False)
    try:
        flag = crosswalk_for(lake).resolve(args.flag_id, note=args.note)
    except (KeyError, LookupError, ValueError):
        raise CommandError(f"no flag with id {args.flag_id}") from None
    print(f"flag {flag.id} resolved")
    return 0


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


# -- entry point ------------------------------------------------------------------


def _configure_logging(args: argparse.Namespace) -> None:
    verbose = getattr(args, "verbose", 0)
    level = logging.WARNING if getattr(args, "quiet", False) else logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if verbose == 0:
        # Per-instance notices are for -v; a run of 10,000 files would otherwise scroll away.
        logging.getLogger("node_adapter.lake").setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (ConfigError, CommandError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except SourceError as exc:  # the Orthanc server refused us or is not there
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:  # an unknown dataset or version
        message = exc.args[0] if exc.args else "not found"
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"{PROG} {args.command}: error: not found: {exc.filename}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `agora-node describe | head`
        return 0
    except ValueError as exc:  # a refused name (dataset, path component): our own words
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a busy port, a lake that is a file, a full disk
        where = f": {exc.filename}" if exc.filename else ""
        print(
            f"{PROG} {args.command}: error: {exc.strerror or type(exc).__name__}{where}",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # noqa: BLE001
        # Only the kind of failure: a library's message may quote a value read from an image.
        log.error("command_failed command=%s error=%s", args.command, type(exc).__name__)
        print(f"{PROG} {args.command}: failed ({type(exc).__name__})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
