"""Errors a user can act on.

Anything raised as :class:`UserError` reaches a person as one line (CLI: stderr and exit code 2;
API: a 4xx with a JSON ``detail`` in the reader's language and a stable ``code``), never as a traceback.
An error carries an English template marked with :func:`printfleet.texts.N_` and its parameters, e.g.
``JobNotFound(N_("job %(job_id)s does not exist"), job_id=7)``; ``str(exc)`` is the English sentence (the CLI,
logs) and the web renders it with ``printfleet.web.reasons.error_text``. Parameters follow the naming
convention of :mod:`printfleet.texts` (``file`` is a file name a person gave, never a server path).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from printfleet.texts import render


class UserError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2
    #: the HTTP status the API answers with
    http_status: ClassVar[int] = 422
    #: a stable identifier of the kind of problem (the API's ``code``); a raise may give a more precise one
    code: str = "invalid"

    def __init__(self, template: str, /, *, code: str | None = None, **params: Any) -> None:
        super().__init__(template)
        self.template = template
        self.params = params
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return render(self.template, self.params)

    def with_params(self, **changes: Any) -> Self:
        """The same error with some parameters replaced (e.g. a server path by the name the person gave)."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.params = {**self.params, **changes}
        copy.args = self.args
        return copy

    def for_person(self, file_name: str) -> Self:
        """The error as a person may read it: the server paths of a file it names replaced by the name they gave
        (``file_name``), those of the site's own files (a slicer profile, a program) by their base names."""
        changes: dict[str, Any] = {key: file_name for key in ("file", "path") if key in self.params}
        for key in ("profile", "program"):
            if isinstance(self.params.get(key), str):
                changes[key] = self.params[key].replace("\\", "/").rsplit("/", 1)[-1]
        return self.with_params(**changes)

    def as_param(self) -> dict[str, Any]:
        """The error as a JSON parameter of an event (``{"template": ..., "params": ...}``)."""
        return {"template": self.template, "params": {k: _jsonable(v) for k, v in self.params.items()}}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


class ConfigError(UserError):
    """The fleet file or a process setting is invalid."""

    code = "config"


class ServiceUnavailable(UserError):
    """A service printfleet needs (database, Redis, broker) cannot be reached or started."""

    http_status = 503
    code = "unavailable"


class NotSignedIn(UserError):
    """The request needs a signed-in user (or a valid API token)."""

    http_status = 401
    code = "not_signed_in"


class Forbidden(UserError):
    """The signed-in user may not do this."""

    http_status = 403
    code = "forbidden"


class NotFound(UserError):
    """The thing asked for does not exist (or is not the asker's to see)."""

    http_status = 404
    code = "not_found"


class Conflict(UserError):
    """The thing's current state does not allow the request."""

    http_status = 409
    code = "conflict"
