"""An Orthanc server as a source of DICOM instances: its REST API or its DICOMweb plugin.

REST (the default) pages through `GET /instances?since=N&limit=M` and downloads each
`/instances/<id>/file`: one instance in memory at a time, whatever the server holds.
DICOMweb (`dicomweb=True`, Orthanc's DICOMweb plugin or any QIDO/WADO-RS server) walks
QIDO-RS studies -> series -> instances, paged with `limit`/`offset`, and retrieves each
instance with WADO-RS (a `multipart/related; type="application/dicom"` answer, split by
a small parser here: no dependency, and the bytes come out exactly as sent).

Origins carry no PHI: REST origins are Orthanc's own instance IDs (SHA-1 digests Orthanc
computes; they let site staff find a quarantined instance in Orthanc), DICOMweb origins are
a counter, because the only identifiers DICOMweb has are the original UIDs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.message import Message
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from node_adapter.sources import Source, SourceError

log = logging.getLogger("node_adapter.orthanc")

REST_PAGE = 500
QIDO_PAGE = 200
DICOM_MEDIA_TYPE = "application/dicom"
STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
STUDY_INSTANCES = "00201208"  # NumberOfStudyRelatedInstances


class OrthancError(SourceError):
    """The source cannot be read; the message says why in words an operator can act on."""


class OrthancSource(Source):
    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: str = "",
        dicomweb: bool = False,
        timeout: float = 30,
    ) -> None:
        self.url, url_user, url_password = _split_credentials(url)
        self.dicomweb = dicomweb
        self.timeout = timeout
        self.session = requests.Session()
        username, password = username or url_user, password or url_password
        if username:
            self.session.auth = (username, password)
        # Retry what a busy or restarting server answers, never a refusal.
        retry = Retry(total=3, backoff_factor=0.5, status_forcelist=(502, 503, 504))
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self._checked = False

    def __repr__(self) -> str:
        mode = "DICOMweb" if self.dicomweb else "REST"
        return f"OrthancSource({self.url!r}, {mode})"

    # --- the Source protocol ---------------------------------------------------------

    def instances(self) -> Iterator[tuple[str, bytes]]:
        self.check()
        if self.dicomweb:
            yield from self._dicomweb_instances()
        else:
            yield from self._rest_instances()

    def count(self) -> int | None:
        self.check()
        if self.dicomweb:
            return sum(
                int(_first(study, STUDY_INSTANCES) or 0)
                for study in self._qido("studies", {"includefield": STUDY_INSTANCES})
            )
        return int(self._get_json("/statistics")["CountInstances"])

    # --- checks and errors -------------------------------------------------------------

    def check(self) -> None:
        """Fail early, and clearly, when the URL is not a reachable Orthanc we may read."""
        if self._checked:
            return
        system = self._get_json("/system")
        if not isinstance(system, dict) or "Version" not in system or "DicomAet" not in system:
            raise OrthancError(f"{self.url} answers, but not like an Orthanc server (/system)")
        if self.dicomweb:
            response = self._get("/dicom-web/studies", params={"limit": 1})
            if response.status_code == 404:
                raise OrthancError(
                    f"{self.url} has no DICOMweb API at /dicom-web/: is Orthanc's DICOMweb "
                    "plugin loaded? (or use the REST API: drop --dicomweb)"
                )
            self._raise_for_status(response, "/dicom-web/studies")
        log.info(
            "orthanc source=%s version=%s mode=%s",
            self.url,
            system["Version"],
            "dicomweb" if self.dicomweb else "rest",
        )
        self._checked = True

    def _get(self, path: str, **kwargs) -> requests.Response:
        try:
            return self.session.get(self.url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise OrthancError(f"cannot reach Orthanc at {self.url}: {_short(exc)}") from exc
        except requests.Timeout as exc:
            raise OrthancError(
                f"Orthanc at {self.url} did not answer within {self.timeout:g} s"
            ) from exc
        except requests.RequestException as exc:
            # Not str(exc): it quotes the path, and DICOMweb paths hold original UIDs.
            raise OrthancError(
                f"Orthanc at {self.url} kept failing ({type(exc).__name__}); see its log"
            ) from None

    def _raise_for_status(self, response: requests.Response, path: str) -> None:
        if response.status_code == 401:
            raise OrthancError(
                f"Orthanc at {self.url} refused the credentials (HTTP 401): check the Orthanc "
                "user name and password (AGORA_NODE_ORTHANC_USER, AGORA_NODE_ORTHANC_PASSWORD)"
            )
        if response.status_code == 403:
            raise OrthancError(
                f"Orthanc at {self.url} forbids {path} (HTTP 403): this user may not read it"
            )
        if response.status_code >= 400:
            raise OrthancError(
                f"Orthanc at {self.url} answered HTTP {response.status_code} to {path}"
            )

    def _get_json(self, path: str, params: dict | None = None):
        response = self._get(path, params=params)
        self._raise_for_status(response, path)
        try:
            return response.json()
        except ValueError as exc:
            raise OrthancError(
                f"{self.url} answers {path} with something that is not JSON: not an Orthanc server?"
            ) from exc

    # --- REST ----------------------------------------------------------------------------

    def _rest_instances(self) -> Iterator[tuple[str, bytes]]:
        since = 0
        while True:
            page = self._get_json("/instances", {"since": since, "limit": REST_PAGE})
            if not isinstance(page, list):
                raise OrthancError(f"{self.url}/instances is not a list: not an Orthanc server?")
            for instance_id in page:
                data = self._rest_file(instance_id)
                if data is not None:
                    yield f"orthanc:{instance_id}", data
            if len(page) < REST_PAGE:
                return
            since += len(page)

    def _rest_file(self, instance_id: str) -> bytes | None:
        path = f"/instances/{instance_id}/file"
        response = self._get(path)
        if response.status_code == 404:  # deleted since it was listed: nothing to take
            log.warning("orthanc instance_gone origin=orthanc:%s", instance_id)
            return None
        self._raise_for_status(response, path)
        return response.content

    # --- DICOMweb ------------------------------------------------------------------------

    def _qido(self, path: str, params: dict | None = None) -> Iterator[dict]:
        offset = 0
        while True:
            query = {**(params or {}), "limit": QIDO_PAGE, "offset": offset}
            page = self._get_json(f"/dicom-web/{path}", query)
            if not isinstance(page, list):
                raise OrthancError(f"{self.url}/dicom-web/{path} is not a QIDO-RS answer")
            yield from page
            if len(page) < QIDO_PAGE:
                return
            offset += len(page)

    def _dicomweb_instances(self) -> Iterator[tuple[str, bytes]]:
        number = 0
        for study in self._qido("studies"):
            study_uid = _first(study, STUDY_UID)
            for series in self._qido(f"studies/{study_uid}/series"):
                series_uid = _first(series, SERIES_UID)
                for instance in self._qido(f"studies/{study_uid}/series/{series_uid}/instances"):
                    sop_uid = _first(instance, SOP_UID)
                    path = f"/dicom-web/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
                    for data in self._wado(path):
                        number += 1
                        yield f"dicomweb#{number}", data

    def _wado(self, path: str) -> list[bytes]:
        accept = f'multipart/related; type="{DICOM_MEDIA_TYPE}"'
        response = self._get(path, headers={"Accept": accept})
        if response.status_code == 404:  # deleted since QIDO listed it
            log.warning("orthanc instance_gone mode=dicomweb")
            return []
        # The path holds original UIDs: the error names the kind of request, not the path.
        self._raise_for_status(response, "a WADO-RS instance")
        return [
            body
            for content_type, body in split_multipart(response)
            if content_type.split(";")[0].strip().lower() == DICOM_MEDIA_TYPE
        ]


def split_multipart(response: requests.Response) -> list[tuple[str, bytes]]:
    """The (content type, body) of each part of a multipart answer (RFC 2046), bytes intact."""
    header = Message()
    header["Content-Type"] = response.headers.get("Content-Type", "")
    boundary = header.get_param("boundary")
    if header.get_content_maintype() != "multipart" or not boundary:
        raise OrthancError("the WADO-RS answer is not multipart/related with a boundary")
    delimiter = b"\r\n--" + str(boundary).encode("ascii")
    # The first delimiter may open the body without a preceding line break.
    chunks = (b"\r\n" + response.content).split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):  # the close delimiter
            break
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise OrthancError("a WADO-RS part has no header/body separator")
        content_type = ""
        for line in head.split(b"\r\n")[1:]:  # the first line ends the delimiter line
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-type":
                content_type = value.strip()
        parts.append((content_type, body))
    return parts


def _first(item: dict, tag: str) -> str | None:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def _split_credentials(url: str) -> tuple[str, str, str]:
    """The URL without user:password@ (so it can be logged) and those credentials."""
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OrthancError(f"not an http(s) URL: {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return clean, parts.username or "", parts.password or ""


def _short(exc: Exception) -> str:
    """A connection error's last reason, without urllib3's nested reprs."""
    text = str(exc)
    return text.rsplit(": ", 1)[-1].rstrip(")'\"") if ": " in text else text
