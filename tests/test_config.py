"""The fleet file: the shipped one is valid; each broken variant is one clear line."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from printfleet.config import DriverName, load_fleet, parse_opening_ranges
from printfleet.errors import ConfigError

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "printers.yaml"


@pytest.fixture()
def fleet_dir(tmp_path: Path) -> Path:
    """A copy of the shipped fleet file and its profiles."""
    shutil.copytree(SHIPPED_CONFIG.parent, tmp_path / "configs")
    return tmp_path / "configs"


def _write(fleet_dir: Path, data: dict) -> Path:
    path = fleet_dir / "printers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _shipped() -> dict:
    return yaml.safe_load(SHIPPED_CONFIG.read_text())


def test_shipped_config_is_a_simulated_fleet_of_two_kinds() -> None:
    fleet = load_fleet(SHIPPED_CONFIG, check_secrets=True)
    assert len(fleet.printers) == 4
    assert {p.driver for p in fleet.printers} == {DriverName.SIMULATED}
    assert {p.build_volume_mm for p in fleet.printers} == {(250, 210, 210), (180, 180, 180)}
    for printer in fleet.printers:
        assert printer.profile.is_file() and printer.profile.is_absolute()
    assert len({p.base_topic for p in fleet.printers}) == 4
    assert fleet.site.tz.key == "Europe/Berlin"


def test_octoprint_printer_key_comes_from_the_named_variable(
    fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _shipped()
    data["printers"].append(
        {"id": "op-1", "name": "OP", "driver": "octoprint", "url": "http://127.0.0.1:5000/",
         "api_key_env": "PF_TEST_OP1_KEY", "build_volume_mm": [250, 210, 210], "profile": "profiles/mk3s-0.20mm-pla.ini"}
    )  # fmt: skip
    path = _write(fleet_dir, data)
    monkeypatch.delenv("PF_TEST_OP1_KEY", raising=False)
    load_fleet(path)  # without the secrets check the file itself is fine
    with pytest.raises(ConfigError) as err:
        load_fleet(path, check_secrets=True)
    assert str(err.value) == (
        f"{path}: printers[4] (op-1): api_key_env: environment variable PF_TEST_OP1_KEY is not set"
    )
    monkeypatch.setenv("PF_TEST_OP1_KEY", "s3cret-key")
    fleet = load_fleet(path, check_secrets=True)
    op = fleet.printer("op-1")
    assert op.url == "http://127.0.0.1:5000"
    assert op.base_topic == "octoPrint/"
    assert op.api_key().get_secret_value() == "s3cret-key"
    assert "s3cret-key" not in repr(op) and "s3cret-key" not in op.model_dump_json()


def _broken(variant: str, data: dict) -> None:
    printers = data["printers"]
    if variant == "unknown-driver":
        printers[1]["driver"] = "bambu-cloud"
    elif variant == "duplicate-id":
        printers[2]["id"] = "mk3s-1"
    elif variant == "bad-volume":
        printers[1]["build_volume_mm"] = [250, -5, 210]
    elif variant == "two-dimensional-volume":
        printers[1]["build_volume_mm"] = [250, 210]
    elif variant == "missing-profile":
        printers[3]["profile"] = "profiles/nope.ini"
    elif variant == "bad-id":
        printers[0]["id"] = "MK3S_1"
    elif variant == "unknown-key":
        printers[0]["nozle_mm"] = 0.6
    elif variant == "bad-timezone":
        data["site"]["timezone"] = "Mars/Olympus"
    elif variant == "bad-opening-hours":
        data["site"]["opening_hours"] = {"mon": "22:00-09:00"}
    elif variant == "octoprint-without-url":
        printers[0]["driver"] = "octoprint"
        printers[0]["api_key_env"] = "X_KEY"
    elif variant == "unsupported-locale":
        data["site"]["locale"] = "fr"
    elif variant == "bad-public-url":
        data["site"]["public_url"] = "print.example.org"
    elif variant == "shared-topic":
        printers[0]["mqtt_base_topic"] = "octoPrint/"
        printers[1]["mqtt_base_topic"] = "octoPrint/"


BROKEN = {
    "unknown-driver": "printers[1] (mk3s-2): driver: unknown driver 'bambu-cloud' (use one of: octoprint, simulated)",
    "duplicate-id": "printers[2] (mk3s-1): id: duplicate, already used by printers[0]",
    "bad-volume": "printers[1] (mk3s-2): build_volume_mm[1]: Input should be greater than 0",
    "two-dimensional-volume": "printers[1] (mk3s-2): build_volume_mm[2]: Field required",
    "missing-profile": "printers[3] (mini-2): profile: file ",
    "bad-id": "printers[0] (MK3S_1): id: must be 1-64 characters of a-z, 0-9 and '-', starting and ending with a "
              "letter or digit (got 'MK3S_1')",
    "unknown-key": "printers[0] (mk3s-1): nozle_mm: unknown key",
    "bad-timezone": "site.timezone: unknown timezone 'Mars/Olympus'",
    "bad-opening-hours": "site.opening_hours: mon: '22:00-09:00' closes before it opens",
    "unsupported-locale": "site.locale: unsupported locale 'fr' (use de or en, optionally with a region such as de_AT)",
    "bad-public-url": "site.public_url: must be an http:// or https:// address without query (got 'print.example.org')",
    "octoprint-without-url": "printers[0] (mk3s-1): url: an octoprint printer needs the OctoPrint URL",
    "shared-topic": "printers[1] (mk3s-2): mqtt_base_topic: 'octoPrint/' is already used by printer mk3s-1",
}


@pytest.mark.parametrize("variant", sorted(BROKEN))
def test_broken_variant_names_file_printer_and_field(variant: str, fleet_dir: Path) -> None:
    data = _shipped()
    _broken(variant, data)
    path = _write(fleet_dir, data)
    with pytest.raises(ConfigError) as err:
        load_fleet(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {BROKEN[variant]}"), message
    assert "\n" not in message


def test_malformed_yaml_gives_line_and_column(fleet_dir: Path) -> None:
    path = fleet_dir / "printers.yaml"
    path.write_text("site:\n  name: x\nprinters:\n  - id: a\n   name: b\n")
    with pytest.raises(ConfigError, match=r"printers.yaml: line 5, column 4: malformed YAML"):
        load_fleet(path)


def test_missing_file_and_wrong_top_level(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_fleet(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_fleet(path)


def test_empty_file_is_an_empty_fleet(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_fleet(path).printers == ()


def test_opening_ranges() -> None:
    assert parse_opening_ranges("13:00-22:00, 09:00-12:30") == (
        (dt.time(9), dt.time(12, 30)),
        (dt.time(13), dt.time(22)),
    )
    with pytest.raises(ValueError, match="overlap"):
        parse_opening_ranges("09:00-13:00,12:00-14:00")
    with pytest.raises(ValueError, match="not HH:MM-HH:MM"):
        parse_opening_ranges("9-5")


def test_site_locale_with_region_and_public_url(fleet_dir: Path) -> None:
    data = _shipped()
    data["site"].update(locale="de_AT", public_url="https://print.example.org/")
    fleet = load_fleet(_write(fleet_dir, data))
    assert fleet.site.locale == "de_AT"
    assert fleet.site.public_url == "https://print.example.org"
