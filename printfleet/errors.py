"""Errors a user can act on.

Anything raised as :class:`UserError` reaches a person as one line (CLI: stderr and exit code 2;
API: a 4xx with a JSON ``detail``), never as a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class ConfigError(UserError):
    """The fleet file or a process setting is invalid."""


class ServiceUnavailable(UserError):
    """A service printfleet needs (database, Redis, broker) cannot be reached or started."""
