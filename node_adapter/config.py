"""The node's settings: defaults < config file (TOML) < environment (AGORA_NODE_*) < flags.

The only module that reads the environment. The site secret and the credentials never
appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from node_adapter.deid import DeidConfig

ENV_PREFIX = "AGORA_NODE_"
CONFIG_ENV = "AGORA_NODE_CONFIG"
MIN_SECRET_BYTES = 16


class ConfigError(Exception):
    """A setting is missing or wrong; the command line exits with status 2."""


@dataclass(frozen=True)
class Settings:
    site_secret: bytes | None = field(default=None, repr=False)
    site_secret_file: Path | None = None
    site_id: str = "site"
    lake: Path | None = None
    hub_url: str = ""
    token: str = field(default="", repr=False)
    node_id: str = ""
    base_url: str = "http://127.0.0.1:8080"
    orthanc_user: str = ""
    orthanc_password: str = field(default="", repr=False)
    retain_longitudinal_dates: bool = False
    retain_device_identity: bool = False
    # On by default: the profile's Retain Patient Characteristics Option (sex, age, size,
    # weight), without which a dataset's description has no sex counts or age range. They
    # leave the site only as aggregates (describe.py); a site may turn it off.
    retain_patient_characteristics: bool = True
    safe_private_tags: tuple[str, ...] = ()  # "0009,ACME PACS,03" each
    ae_title: str = "AGORA"
    listen_host: str = "127.0.0.1"
    listen_port: int = 11112
    serve_host: str = "127.0.0.1"
    serve_port: int = 8080
    page_size: int = 100
    # How the catalogue presents the site's datasets (DCAT publisher and contact point;
    # the hub needs a contact e-mail to accept a MIABIS record).
    publisher_name: str = ""
    contact_name: str = ""
    contact_email: str = ""
    access_rights: str = "RESTRICTED"
    # The fewest subjects behind an age range, a date range or a sex count in a description.
    min_subjects: int = 5

    def describe_options(self) -> dict[str, Any]:
        """The keyword arguments describe(), serve and push take from the settings."""
        return {
            "publisher_name": self.publisher_name,
            "contact_name": self.contact_name,
            "contact_email": self.contact_email,
            "access_rights": self.access_rights,
            "min_subjects": self.min_subjects,
        }

    def secret(self) -> bytes:
        """The site secret, checked: ingestion without it would not be repeatable."""
        secret = self.site_secret
        if secret is None and self.site_secret_file is not None:
            try:
                secret = self.site_secret_file.read_bytes().rstrip(b"\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the site secret file {self.site_secret_file}: "
                    f"{exc.strerror or type(exc).__name__}"
                ) from None
        if not secret:
            raise ConfigError(
                "the site secret is missing: set AGORA_NODE_SITE_SECRET (or "
                "AGORA_NODE_SITE_SECRET_FILE), or site_secret in the config file. It keys the "
                "pseudonyms; keep it safe and never change it, or subjects get new pseudonyms."
            )
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the site secret is too short: it needs at least {MIN_SECRET_BYTES} bytes "
                "(for example the output of `python -c 'import secrets; "
                "print(secrets.token_hex(32))'`)"
            )
        return secret

    def deid_config(self) -> DeidConfig:
        from node_adapter.deid import DeidConfig

        return DeidConfig(
            site_secret=self.secret(),
            site_id=self.site_id,
            retain_longitudinal_dates=self.retain_longitudinal_dates,
            retain_device_identity=self.retain_device_identity,
            retain_patient_characteristics=self.retain_patient_characteristics,
            safe_private_tags=frozenset(_tag(t) for t in self.safe_private_tags),
        )

    def lake_path(self, *, must_exist: bool) -> Path:
        if self.lake is None:
            raise ConfigError("no lake: give --lake DIR, AGORA_NODE_LAKE or lake in the config")
        if must_exist and not (self.lake / ".agora").is_dir():
            raise ConfigError(f"no lake at {self.lake} (ingest into it first)")
        if not must_exist and not self.lake.parent.is_dir():
            raise ConfigError(f"the lake's parent folder does not exist: {self.lake.parent}")
        return self.lake


_FIELDS = {f.name: f for f in fields(Settings)}


def load_settings(
    config_file: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from the config file (given, or named by AGORA_NODE_CONFIG), the
    environment, then `overrides` (command-line flags; None means "not given")."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or env.get(CONFIG_ENV)
    if path:
        values.update(_read_file(Path(path)))
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, f"{ENV_PREFIX}{name.upper()}")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _convert(name, value, f"--{name.replace('_', '-')}")
    return replace(Settings(), **values)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) in {path}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_FIELDS))})"
        )
    return {name: _convert(name, value, f"{name} in {path}") for name, value in data.items()}


def _convert(name: str, value: Any, where: str) -> Any:
    default = _FIELDS[name].default
    if name == "site_secret":
        return value.encode() if isinstance(value, str) else bytes(value)
    if name in {"lake", "site_secret_file"}:
        return Path(value).expanduser()
    if isinstance(default, bool):
        return _boolean(value, where)
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a whole number") from None
    if isinstance(default, tuple):
        # In the environment the tags are separated by ";" since each holds a comma.
        items = [i.strip() for i in value.split(";")] if isinstance(value, str) else list(value)
        items = [str(item) for item in items if item]
        for item in items:
            _tag(item, where)
        return tuple(items)
    return str(value)


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where} must be true or false")


def _tag(text: str, where: str = "safe_private_tags") -> tuple[int, str, int]:
    """ "0009,ACME PACS,03" -> (0x0009, "ACME PACS", 0x03): a private element is named by its
    group, its private creator and its byte in the creator's block, as the Retain Safe
    Private Option does: the same element number under another creator is another thing."""
    try:
        group, creator, element = (part.strip() for part in text.split(","))
        parsed = int(group, 16), creator, int(element, 16)
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} is not a private tag like 0009,ACME PACS,03 "
            "(group, private creator, element in its block)"
        ) from None
    if not parsed[0] & 1 or not creator or not 0 <= parsed[2] <= 0xFF:
        raise ConfigError(f"{where}: {text!r} is not a private tag (odd group, creator, 00-FF)")
    return parsed
