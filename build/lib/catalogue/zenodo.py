"""A small client for Zenodo's deposit REST API (https://developers.zenodo.org).

Plain `requests`, no Django: the hub's worker uses it through catalogue.zenodo_sync.
The token travels only in the Authorization header, never in a URL, so it cannot
end up in a log line or an error message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

# Zenodo answers 429 when rate-limited and 5xx when it is down; 409 means the record
# is still being integrated ("wait 5 minutes"). All pass with time.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


class ZenodoError(Exception):
    """Zenodo refused a request, or could not be reached (status None)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: list[dict] | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or []
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUSES or self.status >= 500

    def field_errors(self) -> str:
        """'field: message; ...' from a Zenodo validation error body."""
        parts = []
        for error in self.errors:
            text = str(error.get("message") or error.get("messages") or "").strip()
            field = error.get("field")
            parts.append(f"{field}: {text}" if field else text)
        return "; ".join(p for p in parts if p)

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        details = self.field_errors()
        return f"Zenodo ({where}): {self.message}" + (f" ({details})" if details else "")


class ZenodoUnavailable(ZenodoError):
    """A failure that passes with time (rate limit, server error, network): retry later."""


def _error_from(response: requests.Response) -> ZenodoError:
    message, errors = "", []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    message = (message or response.reason or "error").strip()[:500]
    retry_after = None
    header = response.headers.get("Retry-After", "")
    if header.strip().isdigit():
        retry_after = float(header)
    status = response.status_code
    cls = ZenodoUnavailable if status in RETRYABLE_STATUSES or status >= 500 else ZenodoError
    return cls(message, status=status, errors=errors, retry_after=retry_after)


class ZenodoClient:
    """One organisation's access to Zenodo (its personal access token)."""

    def __init__(self, base_url: str, token: str, timeout: float = 20.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )

    def __repr__(self) -> str:  # never shows the token
        return f"ZenodoClient({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ZenodoClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs) -> Any:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise ZenodoUnavailable(f"no answer within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise ZenodoUnavailable(f"could not connect ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ZenodoUnavailable(
                f"answered HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from exc

    def _deposition_url(self, deposition_id: int | str, action: str = "") -> str:
        url = f"{self.base_url}/deposit/depositions/{int(deposition_id)}"
        return f"{url}/actions/{action}" if action else url

    # --- depositions ------------------------------------------------------------------

    def create_deposition(self, metadata: dict | None = None) -> dict:
        """A new unpublished deposition; `metadata` may be partial at this stage."""
        body = {"metadata": metadata} if metadata else {}
        return self._request("POST", f"{self.base_url}/deposit/depositions", json=body)

    def get(self, deposition_id: int | str) -> dict:
        return self._request("GET", self._deposition_url(deposition_id))

    def list_depositions(self, *, status: str = "draft", size: int = 100) -> list[dict]:
        """The token owner's depositions, most recent first (status: draft or published)."""
        params = {"status": status, "sort": "mostrecent", "size": size}
        return self._request("GET", f"{self.base_url}/deposit/depositions", params=params) or []

    def update_metadata(self, deposition_id: int | str, metadata: dict) -> dict:
        """Replace the metadata of a draft, or of a published deposition opened with edit()."""
        return self._request(
            "PUT", self._deposition_url(deposition_id), json={"metadata": metadata}
        )

    def delete(self, deposition_id: int | str) -> None:
        """Delete a deposition that was never published (published ones cannot be deleted)."""
        self._request("DELETE", self._deposition_url(deposition_id))

    def upload_file(
        self,
        bucket_url: str,
        filename: str,
        content: bytes,
        content_type: str = "application/octet-stream",
    ) -> dict:
        """Put one file into the deposition's bucket (links.bucket); same name replaces it."""
        url = f"{bucket_url.rstrip('/')}/{quote(filename)}"
        return self._request("PUT", url, data=content, headers={"Content-Type": content_type})

    def delete_file(self, bucket_url: str, filename: str) -> None:
        """Remove a file from an unpublished deposition's bucket."""
        self._request("DELETE", f"{bucket_url.rstrip('/')}/{quote(filename)}")

    # --- actions ----------------------------------------------------------------------

    def publish(self, deposition_id: int | str) -> dict:
        """Publish (first time: registers the DOI); a published record can never be deleted."""
        return self._request("POST", self._deposition_url(deposition_id, "publish"))

    def edit(self, deposition_id: int | str) -> dict:
        """Unlock a published deposition so its metadata can be changed and republished."""
        return self._request("POST", self._deposition_url(deposition_id, "edit"))

    def discard(self, deposition_id: int | str) -> dict:
        """Drop the changes of the current edit session of a published deposition."""
        return self._request("POST", self._deposition_url(deposition_id, "discard"))

    def new_version(self, deposition_id: int | str) -> dict:
        """Open a new version of the latest published version.

        Zenodo answers with the *original* deposition; the new draft is at
        links.latest_draft (see latest_draft_id). Calling it again while that draft
        is unpublished returns the same draft.
        """
        return self._request("POST", self._deposition_url(deposition_id, "newversion"))

    @staticmethod
    def latest_draft_id(deposition: dict) -> int:
        link = (deposition.get("links") or {}).get("latest_draft") or ""
        tail = link.rstrip("/").rsplit("/", 1)[-1]
        if not tail.isdigit():
            raise ZenodoError("the new-version answer has no links.latest_draft")
        return int(tail)
