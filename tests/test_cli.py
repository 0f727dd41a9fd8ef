"""The command line as a user runs it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPO_ROOT / "configs" / "printers.yaml"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m printfleet ARGS`` with a clean PRINTFLEET_* environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PRINTFLEET_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "printfleet", *args],
        check=False, capture_output=True, text=True, env=base, cwd=REPO_ROOT, timeout=timeout,
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    """Exit code 2, the expected text on stderr, on one line, and no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("printfleet: "), result.stderr
    assert expected in lines[0], lines[0]


def test_help_everywhere() -> None:
    for args in ([], ["config"], ["db"], ["users"], ["tokens"], ["up"], ["users", "add"]):
        result = run_cli(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def test_config_check_shipped_file_exits_zero() -> None:
    result = run_cli("config", "check", str(SHIPPED_CONFIG))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "4 printer(s)" in result.stdout


def test_config_check_defaults_to_printfleet_config(tmp_path: Path) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text("printers:\n  - id: x\n    name: X\n    driver: telepathy\n")
    result = run_cli("config", "check", env={"PRINTFLEET_CONFIG": str(broken)})
    assert_one_line_error(result, f"{broken}: printers[0] (x): driver: unknown driver 'telepathy'")


def test_config_check_unset_key_variable(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    profile = REPO_ROOT / "configs/profiles/mk3s-0.20mm-pla.ini"
    fleet.write_text(
        "printers:\n  - {id: op-1, name: OP, driver: octoprint, url: 'http://127.0.0.1:5000',\n"
        f"     api_key_env: PF_UNSET_KEY_FOR_TEST, build_volume_mm: [1, 1, 1], profile: {profile}}}\n"
    )
    result = run_cli("config", "check", str(fleet))
    assert_one_line_error(result, "printers[0] (op-1): api_key_env: environment variable PF_UNSET_KEY_FOR_TEST is not set")


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    result = run_cli("db", "upgrade", env={"PRINTFLEET_REDIS_URL": "http://nope"})
    assert_one_line_error(result, "PRINTFLEET_REDIS_URL: Value error, must start with redis://")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("db", "upgrade", env={"PRINTFLEET_DATA_DIR": str(blocker / "data")})
    assert_one_line_error(result, f"PRINTFLEET_DATA_DIR={blocker / 'data'}: cannot create it")


def test_without_a_data_dir_the_cli_says_which_database_and_creates_none(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PRINTFLEET_")}
    result = subprocess.run([sys.executable, "-m", "printfleet", "users", "list"], check=False, capture_output=True,
                            text=True, env=base, cwd=tmp_path, timeout=60)  # fmt: skip
    assert_one_line_error(result, f"there is no printfleet database at {tmp_path / 'data' / 'printfleet.db'} "
                                  "(PRINTFLEET_DATA_DIR is not set, so ./data of the current directory is used; set "
                                  "PRINTFLEET_DATA_DIR")  # fmt: skip
    assert not (tmp_path / "data").exists()


def test_config_check_shows_what_a_field_must_look_like(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    profile = REPO_ROOT / "configs/profiles/mk3s-0.20mm-pla.ini"
    fleet.write_text(f"printers:\n  - {{id: MK3S_1, name: M, driver: simulated, build_volume_mm: [1, 1, 1], "
                     f"profile: {profile}}}\n")  # fmt: skip
    result = run_cli("config", "check", str(fleet))
    assert_one_line_error(result, "id: must be 1-64 characters of a-z, 0-9 and '-', starting and ending with a letter "
                                  "or digit (got 'MK3S_1')")  # fmt: skip


def test_users_and_tokens(tmp_path: Path) -> None:
    env = {"PRINTFLEET_DATA_DIR": str(tmp_path / "data")}
    assert_one_line_error(run_cli("users", "list", env=env),
                          f"there is no printfleet database at {tmp_path / 'data' / 'printfleet.db'} (in PRINTFLEET_DATA_DIR)")
    assert not (tmp_path / "data" / "printfleet.db").exists()
    assert run_cli("db", "upgrade", env=env).returncode == 0
    added = run_cli("users", "add", "ada", "--role", "staff", "--password", "correct horse", env=env)
    assert added.returncode == 0, added.stderr
    assert_one_line_error(run_cli("users", "add", "ada", "--password", "another one", env=env), "already exists")
    assert_one_line_error(run_cli("users", "add", "bob", "--role", "wizard", env=env), "role 'wizard'")
    assert_one_line_error(run_cli("users", "add", "bob", "--password", "short", env=env), "at least 8 characters")
    assert_one_line_error(run_cli("users", "add", "../etc", env=env), "user name '../etc'")
    listed = run_cli("users", "list", env=env)
    assert "ada" in listed.stdout and "staff" in listed.stdout and "bob" not in listed.stdout
    token = run_cli("tokens", "create", "wall", "--user", "ada", env=env)
    assert token.returncode == 0 and token.stdout.startswith("pf_") and len(token.stdout.strip()) > 40
    assert_one_line_error(run_cli("tokens", "create", "x", "--user", "nobody", env=env), "user 'nobody' does not exist")


@pytest.mark.integration
def test_up_refuses_unreachable_redis_without_starting_anything(tmp_path: Path) -> None:
    env = {"PRINTFLEET_DATA_DIR": str(tmp_path / "data"), "PRINTFLEET_REDIS_URL": "redis://127.0.0.1:1/0"}
    assert_one_line_error(run_cli("up", "--port", "1", env=env), "PRINTFLEET_REDIS_URL=redis://127.0.0.1:1/0: cannot reach Redis")


def test_up_refuses_broken_fleet_file(tmp_path: Path) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text("site: [\n")
    env = {"PRINTFLEET_DATA_DIR": str(tmp_path / "data"), "PRINTFLEET_CONFIG": str(broken)}
    assert_one_line_error(run_cli("up", env=env), "malformed YAML")
    assert not (tmp_path / "data" / "printfleet.db").exists()
