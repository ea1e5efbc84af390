"""A local Zenodo for tests: the deposit REST API as developers.zenodo.org documents it.

It is strict on purpose, so a client that passes here speaks Zenodo's contract:

- every request needs `Authorization: Bearer <token>` (or `?access_token=`): 401 without
  a known token, 403 for a deposition that belongs to another token's owner;
- endpoints and methods: POST/GET /api/deposit/depositions, GET/PUT/DELETE
  /api/deposit/depositions/<id>, POST .../actions/publish|edit|discard|newversion,
  PUT/GET/DELETE <links.bucket>/<filename>; anything else is 404 or 405;
- POST and PUT bodies are JSON with `Content-Type: application/json` (415 otherwise),
  shaped `{"metadata": {...}}`; bucket uploads are the file's raw bytes;
- metadata is checked field by field against the documented vocabularies; a PUT must
  carry upload_type, title, creators[{name}], description and access_right, plus
  license when access is open or embargoed (Zenodo would default access_right and
  license; the hub always states them, and this fake makes sure it does);
- errors are Zenodo's bodies: {"status": 400, "message": ..., "errors": [{"field", "message"}]};
  a 500 carries no JSON body, as documented;
- publishing needs at least one file and complete metadata; publishing mints
  10.5072/zenodo.<id> (the sandbox prefix) and a concept DOI shared by all versions;
- a published deposition changes only after actions/edit, its files never change
  again, and it can never be deleted;
- actions/newversion answers with the original deposition and links.latest_draft;
  asking again while that draft is unpublished gives the same draft.

Knobs for tests: `fail_next(status=..., times=n)` answers the next matching requests
with that status (`after=True`: carry out the request, then answer with the error, as
when the answer is lost), `calls` lists what was asked, `deposition(id)` and
`files(id)` show what Zenodo holds.

    with FakeZenodo(tokens=["token-a"]) as zenodo:
        ZenodoClient(zenodo.base_url, "token-a").create_deposition()
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

UPLOAD_TYPES = set(
    """
    publication poster presentation dataset image video software lesson physicalobject
    other
    """.split()
)
PUBLICATION_TYPES = set(
    """
    annotationcollection book section conferencepaper datamanagementplan article patent
    preprint deliverable milestone proposal report softwaredocumentation
    taxonomictreatment technicalnote thesis workingpaper other
    """.split()
)
IMAGE_TYPES = {"figure", "plot", "drawing", "diagram", "photo", "other"}
ACCESS_RIGHTS = {"open", "embargoed", "restricted", "closed"}
RELATIONS = set(
    """
    isCitedBy cites isSupplementTo isSupplementedBy isContinuedBy continues
    isDescribedBy describes hasMetadata isMetadataFor isNewVersionOf
    isPreviousVersionOf isPartOf hasPart isReferencedBy references isDocumentedBy
    documents isCompiledBy compiles isVariantFormOf isOriginalFormOf isOriginalFormof
    isIdenticalTo isAlternateIdentifier isReviewedBy reviews isDerivedFrom isSourceOf
    requires isRequiredBy isObsoletedBy obsoletes
    """.split()
)
CONTRIBUTOR_TYPES = set(
    """
    ContactPerson DataCollector DataCurator DataManager Distributor Editor Funder
    HostingInstitution Producer ProjectLeader ProjectManager ProjectMember
    RegistrationAgency RegistrationAuthority RelatedPerson Researcher ResearchGroup
    RightsHolder Supervisor Sponsor WorkPackageLeader Other
    """.split()
)
# A sample of Zenodo's license ids (GET /api/licenses); compared case-insensitively.
CC_KINDS = ("by", "by-sa", "by-nc", "by-nc-sa", "by-nd", "by-nc-nd")
LICENSES = {
    *(f"cc-{kind}-{v}" for kind in CC_KINDS for v in ("1.0", "2.0", "2.5", "3.0", "4.0")),
    *"""
    cc0-1.0 cc-zero cc-by odc-by-1.0 odc-odbl-1.0 odc-pddl-1.0 mit apache-2.0 bsd-3-clause
    gpl-3.0-only other-open other-nc
    """.split(),
}
KNOWN_FIELDS = set(
    """
    upload_type publication_type image_type publication_date title creators description
    access_right license embargo_date access_conditions doi prereserve_doi keywords
    notes related_identifiers contributors references communities grants journal_title
    journal_volume journal_issue journal_pages conference_title conference_acronym
    conference_dates conference_place conference_url conference_session
    conference_session_part imprint_publisher imprint_isbn imprint_place partof_title
    partof_pages thesis_supervisors thesis_university subjects version language
    locations dates method
    """.split()
)
# Tags Zenodo keeps in HTML fields (description, notes, ...); others are stripped.
ALLOWED_TAGS = set(
    """
    a abbr acronym b blockquote br code caption div em i li ol p pre span strike strong
    sub table tbody thead th td tr u ul
    """.split()
)
ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
DOI = re.compile(r"^(doi:|https?://(dx\.)?doi\.org/)?10\.\d{4,9}/\S+$", re.I)
PID_PATTERNS = (
    DOI,
    re.compile(
        r"^https?://[^\s/]+\.[^\s/]+(/\S*)?$|^https?://(localhost|\d+\.\d+\.\d+\.\d+)(:\d+)?(/\S*)?$"
    ),
    re.compile(r"^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$", re.I),
    re.compile(r"^ark:/\d+/\S+$", re.I),
    re.compile(r"^(arxiv:)?\d{4}\.\d{4,5}(v\d+)?$", re.I),
)
TAG = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9]*)[^>]*>")

UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested. "
    "You either supplied the wrong credentials (e.g. a bad password), or your browser "
    "doesn't understand how to supply the credentials required."
)


class _Answer(Exception):
    """Raised inside a handler to answer with a Zenodo error body."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None, headers=None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []
        self.headers = headers or {}

    def body(self) -> dict:
        body = {"status": self.status, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _validation_error(errors: list[dict]) -> _Answer:
    return _Answer(400, "Validation error.", [e | {"code": 10} for e in errors])


@dataclass
class _Deposition:
    id: int
    owner: int
    conceptrecid: int
    bucket: str
    metadata: dict = field(default_factory=dict)
    state: str = "unsubmitted"  # unsubmitted -> done <-> inprogress (edit)
    submitted: bool = False
    doi: str = ""
    published_metadata: dict = field(default_factory=dict)
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)


@dataclass
class _Failure:
    status: int
    times: int
    method: str | None
    path: str | None
    after: bool
    retry_after: int | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.search(self.path, path) is not None
        )


@dataclass
class Call:
    method: str
    path: str
    owner: int | None
    status: int = 0


class FakeZenodo:
    """The server; start() (or `with`) serves on a free loopback port."""

    def __init__(self, tokens=("test-token",), communities=("agora",)):
        self._lock = threading.RLock()
        self._tokens: dict[str, int] = {}
        self.communities = set(communities)
        for token in tokens:
            self.add_token(token)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> FakeZenodo:
        fake = self

        class Handler(_Handler):
            zenodo = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-zenodo", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeZenodo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def root(self) -> str:
        assert self._httpd, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What ZENODO_API_URL should be."""
        return f"{self.root}/api"

    # --- knobs and views for tests ----------------------------------------------------

    def reset(self) -> None:
        """Forget depositions, calls and pending failures (tokens and communities stay)."""
        with self._lock:
            self._next_id = 1
            self._depositions: dict[int, _Deposition] = {}
            self._buckets: dict[str, dict[str, bytes]] = {}
            self._failures: list[_Failure] = []
            self.calls: list[Call] = []

    def add_token(self, token: str) -> int:
        """Register a personal access token; each token is its own Zenodo user."""
        with self._lock:
            return self._tokens.setdefault(token, len(self._tokens) + 1)

    def fail_next(
        self,
        status: int = 500,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` requests matching method and path (a regex) with `status`.

        after=True carries the request out first, so the change happens at Zenodo but
        the client only sees the error (a lost answer).
        """
        with self._lock:
            self._failures.append(_Failure(status, times, method, path, after, retry_after))

    def deposition(self, deposition_id: int) -> dict:
        with self._lock:
            return self._representation(self._depositions[int(deposition_id)])

    def depositions(self) -> list[dict]:
        with self._lock:
            return [self._representation(d) for d in self._depositions.values()]

    def files(self, deposition_id: int) -> dict[str, bytes]:
        with self._lock:
            return dict(self._buckets[self._depositions[int(deposition_id)].bucket])

    def calls_to(self, method: str, path: str) -> list[Call]:
        """Calls with this method whose path matches the regex `path`."""
        return [c for c in self.calls if c.method == method and re.search(path, c.path)]

    # --- request handling -------------------------------------------------------------

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.matches(method, path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def handle(self, request: _Handler) -> tuple[int, dict | list | bytes | None, dict]:
        url = urlsplit(request.path)
        path, query = url.path, parse_qs(url.query)
        method = request.command
        call = Call(method, path, None)
        self.calls.append(call)
        body = request.read_body()
        failure = self._take_failure(method, path)
        try:
            if failure and not failure.after:
                raise self._injected(failure)
            with self._lock:
                call.owner = owner = self._authenticate(request, query)
                status, payload = self._route(method, path, query, request, body, owner)
            if failure:
                raise self._injected(failure)
        except _Answer as answer:
            call.status = answer.status
            if answer.status >= 500:
                return answer.status, b"<h1>Internal Server Error</h1>", answer.headers
            return answer.status, answer.body(), answer.headers
        call.status = status
        return status, payload, {}

    @staticmethod
    def _injected(failure: _Failure) -> _Answer:
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
        messages = {
            429: "Too Many Requests",
            409: "Deposition is being integrated; try again later.",
        }
        return _Answer(
            failure.status, messages.get(failure.status, "Injected failure."), headers=headers
        )

    def _authenticate(self, request: _Handler, query: dict) -> int:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        token = token or (query.get("access_token") or [""])[0]
        owner = self._tokens.get(token) if token else None
        if owner is None:
            raise _Answer(401, UNAUTHORIZED)
        return owner

    def _route(self, method, path, query, request, body, owner):
        if re.fullmatch(r"/api/deposit/depositions/?", path):
            if method == "GET":
                return 200, self._list(owner, query)
            if method == "POST":
                return 201, self._create(owner, self._json(request, body, required=True))
            raise _Answer(405, "Method not allowed.")
        if m := re.fullmatch(r"/api/deposit/depositions/(\d+)/?", path):
            dep = self._own(int(m[1]), owner)
            if method == "GET":
                return 200, self._representation(dep)
            if method == "PUT":
                return 200, self._update(dep, self._json(request, body, required=True))
            if method == "DELETE":
                return 201, self._delete(dep)
            raise _Answer(405, "Method not allowed.")
        if m := re.fullmatch(r"/api/deposit/depositions/(\d+)/actions/([a-z]+)/?", path):
            if m[2] not in {"publish", "edit", "discard", "newversion"}:
                raise _Answer(404, "The requested URL was not found on the server.")
            if method != "POST":
                raise _Answer(405, "Method not allowed.")
            self._json(request, body, required=False)
            dep = self._own(int(m[1]), owner)
            return getattr(self, f"_action_{m[2]}")(dep, owner)
        if m := re.fullmatch(r"/api/files/([0-9a-f-]{36})/(.+)", path):
            return self._file(method, m[1], unquote(m[2]), request, body, owner)
        raise _Answer(404, "The requested URL was not found on the server.")

    @staticmethod
    def _json(request: _Handler, body: bytes, *, required: bool):
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not body and not required:
            return None
        if content_type != "application/json":
            raise _Answer(
                415, "Unsupported media type: send a JSON body with Content-Type: application/json."
            )
        try:
            data = json.loads(body or b"")
        except ValueError as exc:
            raise _Answer(400, f"Could not decode JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _validation_error([{"field": "", "message": "The body must be a JSON object."}])
        return data

    def _own(self, deposition_id: int, owner: int) -> _Deposition:
        dep = self._depositions.get(deposition_id)
        if dep is None:
            raise _Answer(404, "PID does not exist.")
        if dep.owner != owner:
            raise _Answer(403, "You don't have the permission to access the requested resource.")
        return dep

    # --- depositions ------------------------------------------------------------------

    def _list(self, owner: int, query: dict) -> list[dict]:
        status = (query.get("status") or [""])[0]
        if status not in {"", "draft", "published"}:
            raise _validation_error([{"field": "status", "message": "Must be draft or published."}])
        deps = [d for d in self._depositions.values() if d.owner == owner]
        if status:
            deps = [d for d in deps if d.submitted == (status == "published")]
        deps.sort(
            key=lambda d: d.id, reverse=(query.get("sort") or ["mostrecent"])[0] != "-mostrecent"
        )
        size = int((query.get("size") or ["10"])[0])
        page = int((query.get("page") or ["1"])[0])
        return [self._representation(d) for d in deps[(page - 1) * size : page * size]]

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _create(self, owner: int, data: dict) -> dict:
        metadata = self._metadata_of(data, complete=False)
        concept = self._new_id()
        dep = _Deposition(
            id=self._new_id(), owner=owner, conceptrecid=concept, bucket=str(uuid.uuid4())
        )
        dep.metadata = metadata
        self._depositions[dep.id] = dep
        self._buckets[dep.bucket] = {}
        return self._representation(dep)

    def _update(self, dep: _Deposition, data: dict) -> dict:
        if dep.state == "done":
            raise _Answer(
                400, "Deposition is published: call actions/edit before changing its metadata."
            )
        dep.metadata = self._metadata_of(data, complete=True)
        dep.modified = _now()
        return self._representation(dep)

    def _delete(self, dep: _Deposition) -> None:
        if dep.submitted:
            raise _Answer(403, "A published deposition cannot be deleted.")
        del self._depositions[dep.id]
        del self._buckets[dep.bucket]

    def _action_publish(self, dep: _Deposition, owner: int):
        if dep.state == "done":
            raise _Answer(400, "Deposition is already published.")
        if not self._buckets[dep.bucket]:
            raise _validation_error([{"message": "Minimum one file must be provided."}])
        errors = _check_metadata(dep.metadata, complete=True, communities=self.communities)
        if errors:
            raise _validation_error(errors)
        if not dep.submitted:
            dep.doi = f"10.5072/zenodo.{dep.id}"
            dep.submitted = True
            dep.metadata.setdefault("publication_date", date.today().isoformat())
        dep.state = "done"
        dep.published_metadata = copy.deepcopy(dep.metadata)
        dep.modified = _now()
        return 202, self._representation(dep)

    def _action_edit(self, dep: _Deposition, owner: int):
        if dep.state != "done":
            raise _Answer(400, f"Deposition state does not allow for editing (state {dep.state}).")
        dep.state = "inprogress"
        return 201, self._representation(dep)

    def _action_discard(self, dep: _Deposition, owner: int):
        if not (dep.submitted and dep.state == "inprogress"):
            raise _Answer(400, "Deposition is not being edited.")
        dep.metadata = copy.deepcopy(dep.published_metadata)
        dep.state = "done"
        return 201, self._representation(dep)

    def _action_newversion(self, dep: _Deposition, owner: int):
        if not dep.submitted:
            raise _Answer(400, "Only a published deposition can get a new version.")
        versions = self._versions(dep.conceptrecid)
        published = [d for d in versions if d.submitted]
        if published[-1].id != dep.id:
            raise _Answer(400, "A new version must be made from the latest version of the record.")
        if not any(not d.submitted for d in versions):
            draft = _Deposition(
                id=self._new_id(),
                owner=owner,
                conceptrecid=dep.conceptrecid,
                bucket=str(uuid.uuid4()),
            )
            draft.metadata = {
                k: v
                for k, v in copy.deepcopy(dep.published_metadata).items()
                if k not in {"doi", "prereserve_doi"}
            }
            self._depositions[draft.id] = draft
            self._buckets[draft.bucket] = dict(self._buckets[dep.bucket])
        return 201, self._representation(dep)

    def _versions(self, conceptrecid: int) -> list[_Deposition]:
        return sorted(
            (d for d in self._depositions.values() if d.conceptrecid == conceptrecid),
            key=lambda d: d.id,
        )

    # --- files ------------------------------------------------------------------------

    def _file(self, method, bucket_id, filename, request, body, owner):
        files = self._buckets.get(bucket_id)
        if files is None:
            raise _Answer(404, "Bucket does not exist.")
        dep = next(d for d in self._depositions.values() if d.bucket == bucket_id)
        if dep.owner != owner:
            raise _Answer(403, "You don't have the permission to access the requested resource.")
        if method == "GET":
            if filename not in files:
                raise _Answer(404, "Object does not exist.")
            return 200, files[filename]
        if method not in {"PUT", "DELETE"}:
            raise _Answer(405, "Method not allowed.")
        if dep.submitted:
            raise _Answer(
                403, "Bucket is locked: the files of a published deposition cannot change."
            )
        if method == "DELETE":
            if files.pop(filename, None) is None:
                raise _Answer(404, "Object does not exist.")
            return 204, None
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type.startswith("multipart/"):
            raise _Answer(400, "The bucket takes the file's raw bytes as the body, not a form.")
        if not body:
            raise _Answer(400, "Empty files are not accepted.")
        files[filename] = body
        digest = hashlib.md5(body).hexdigest()  # Zenodo reports md5 checksums
        link = f"{self.root}/api/files/{bucket_id}/{filename}"
        return 201, {
            "key": filename,
            "size": len(body),
            "checksum": f"md5:{digest}",
            "mimetype": content_type or "application/octet-stream",
            "created": _now(),
            "updated": _now(),
            "is_head": True,
            "delete_marker": False,
            "version_id": str(uuid.uuid4()),
            "links": {"self": link},
        }

    # --- shapes -----------------------------------------------------------------------

    def _metadata_of(self, data: dict, *, complete: bool) -> dict:
        unknown = set(data) - {"metadata"}
        if unknown:
            raise _validation_error(
                [{"field": k, "message": "Unknown field."} for k in sorted(unknown)]
            )
        metadata = data.get("metadata", {})
        if not complete and not data:
            return {}
        if not isinstance(metadata, dict):
            raise _validation_error([{"field": "metadata", "message": "Must be an object."}])
        errors = _check_metadata(metadata, complete=complete, communities=self.communities)
        if errors:
            raise _validation_error(errors)
        metadata = copy.deepcopy(metadata)
        for name in ("description", "notes", "method", "access_conditions"):
            if isinstance(metadata.get(name), str):
                metadata[name] = TAG.sub(
                    lambda t: t[0] if t[1].lower() in ALLOWED_TAGS else "", metadata[name]
                )
        return metadata

    def _representation(self, dep: _Deposition) -> dict:
        api = f"{self.root}/api/deposit/depositions/{dep.id}"
        versions = self._versions(dep.conceptrecid)
        drafts = [d for d in versions if not d.submitted]
        published = [d for d in versions if d.submitted]
        latest_draft = (drafts or published or [dep])[-1]
        links = {
            "self": api,
            "html": f"{self.root}/deposit/{dep.id}",
            "bucket": f"{self.root}/api/files/{dep.bucket}",
            "publish": f"{api}/actions/publish",
            "edit": f"{api}/actions/edit",
            "discard": f"{api}/actions/discard",
            "newversion": f"{api}/actions/newversion",
            "latest_draft": f"{self.root}/api/deposit/depositions/{latest_draft.id}",
            "latest_draft_html": f"{self.root}/deposit/{latest_draft.id}",
        }
        out = {
            "id": dep.id,
            "conceptrecid": str(dep.conceptrecid),
            "record_id": dep.id,
            "owner": dep.owner,
            "created": dep.created,
            "modified": dep.modified,
            "state": dep.state,
            "submitted": dep.submitted,
            "title": dep.metadata.get("title", ""),
            "metadata": copy.deepcopy(dep.metadata),
            "files": [
                {
                    "id": hashlib.sha1(f"{dep.bucket}/{name}".encode()).hexdigest(),
                    "filename": name,
                    "filesize": len(content),
                    "checksum": hashlib.md5(content).hexdigest(),
                }
                for name, content in self._buckets[dep.bucket].items()
            ],
            "links": links,
        }
        if dep.submitted:
            out |= {
                "doi": dep.doi,
                "doi_url": f"https://doi.org/{dep.doi}",
                "conceptdoi": f"10.5072/zenodo.{dep.conceptrecid}",
                "record_url": f"{self.root}/record/{dep.id}",
            }
            links |= {
                "record": f"{self.root}/api/records/{dep.id}",
                "latest": f"{self.root}/api/records/{published[-1].id}",
                "doi": f"https://doi.org/{dep.doi}",
            }
        return out


def _check_metadata(md: dict, *, complete: bool, communities: set[str]) -> list[dict]:
    """Zenodo-style field errors for a deposition metadata object."""
    errors: list[dict] = []

    def err(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    for name in sorted(set(md) - KNOWN_FIELDS):
        err(name, "Unknown field.")

    def text(name: str, required: bool = False) -> None:
        value = md.get(name)
        if value is None:
            if required and complete:
                err(name, "Field is required.")
        elif not isinstance(value, str) or (required and not value.strip()):
            err(name, "Must be a non-empty string." if required else "Must be a string.")

    def choice(name: str, allowed: set[str], required: bool = False) -> None:
        value = md.get(name)
        if value is None:
            if required and complete:
                err(name, "Field is required.")
        elif value not in allowed:
            err(name, "Not a valid choice.")

    def iso_date(name: str, required: bool = False) -> None:
        value = md.get(name)
        if value is None:
            if required and complete:
                err(name, "Field is required.")
            return
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            err(name, "Not a valid date (YYYY-MM-DD).")

    def people(name: str, *, required: bool, typed: bool) -> None:
        value = md.get(name)
        if value is None:
            if required and complete:
                err(name, "Field is required.")
            return
        if not isinstance(value, list) or (required and not value):
            err(name, "Must be a non-empty list." if required else "Must be a list.")
            return
        allowed = {"name", "affiliation", "orcid", "gnd"} | ({"type"} if typed else set())
        for i, person in enumerate(value):
            where = f"{name}.{i}"
            if not isinstance(person, dict):
                err(where, "Must be an object.")
                continue
            for key in sorted(set(person) - allowed):
                err(f"{where}.{key}", "Unknown field.")
            if not isinstance(person.get("name"), str) or not person["name"].strip():
                err(f"{where}.name", "Name is required.")
            if person.get("affiliation") is not None and not isinstance(person["affiliation"], str):
                err(f"{where}.affiliation", "Must be a string.")
            if person.get("orcid") is not None and not ORCID.match(str(person["orcid"])):
                err(f"{where}.orcid", "Not a valid ORCID identifier.")
            if typed and person.get("type") not in CONTRIBUTOR_TYPES:
                err(f"{where}.type", "Not a valid choice.")

    def strings(name: str) -> None:
        value = md.get(name)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            err(name, "Must be a list of strings.")

    choice("upload_type", UPLOAD_TYPES, required=True)
    if md.get("upload_type") == "publication":
        choice("publication_type", PUBLICATION_TYPES, required=True)
    if md.get("upload_type") == "image":
        choice("image_type", IMAGE_TYPES, required=True)
    text("title", required=True)
    text("description", required=True)
    people("creators", required=True, typed=False)
    people("contributors", required=False, typed=True)
    choice("access_right", ACCESS_RIGHTS, required=True)
    access = md.get("access_right")
    license_id = md.get("license")
    if license_id is None:
        if complete and access in {"open", "embargoed"}:
            err("license", "Required for open and embargoed access.")
    elif not isinstance(license_id, str) or license_id.lower() not in LICENSES:
        err("license", "Not a valid license identifier (see /api/licenses).")
    if access == "embargoed":
        iso_date("embargo_date", required=True)
    if access == "restricted":
        text("access_conditions", required=True)
    iso_date("publication_date")
    for name in ("notes", "version", "method", "doi"):
        text(name)
    if md.get("language") is not None and not re.fullmatch(r"[a-z]{3}", str(md["language"])):
        err("language", "Must be an ISO 639-2 or 639-3 code.")
    strings("keywords")
    strings("references")

    related = md.get("related_identifiers")
    if related is not None:
        if not isinstance(related, list):
            err("related_identifiers", "Must be a list.")
        else:
            for i, item in enumerate(related):
                where = f"related_identifiers.{i}"
                if not isinstance(item, dict):
                    err(where, "Must be an object.")
                    continue
                for key in sorted(
                    set(item) - {"identifier", "relation", "resource_type", "scheme"}
                ):
                    err(f"{where}.{key}", "Unknown field.")
                identifier = item.get("identifier")
                if not isinstance(identifier, str) or not any(
                    p.match(identifier) for p in PID_PATTERNS
                ):
                    err(f"{where}.identifier", "Not a valid persistent identifier.")
                if item.get("relation") not in RELATIONS:
                    err(f"{where}.relation", "Not a valid choice.")

    community_list = md.get("communities")
    if community_list is not None:
        if not isinstance(community_list, list):
            err("communities", "Must be a list.")
        else:
            for i, item in enumerate(community_list):
                identifier = item.get("identifier") if isinstance(item, dict) else None
                if not isinstance(identifier, str) or not identifier:
                    err(f"communities.{i}.identifier", "Field is required.")
                elif identifier not in communities:
                    err(f"communities.{i}.identifier", f"Community {identifier!r} does not exist.")
    return errors


class _Handler(BaseHTTPRequestHandler):
    zenodo: FakeZenodo
    protocol_version = "HTTP/1.1"
    server_version = "FakeZenodo/1"

    def log_message(self, format, *args) -> None:  # quiet in test output
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        status, payload, headers = self.zenodo.handle(self)
        if isinstance(payload, bytes):
            data = payload
            content_type = "text/html" if status >= 500 else "application/octet-stream"
        elif payload is None:
            data, content_type = b"", ""
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
