"""Malformed policy files are one-line errors naming the file, at the CLI and at `sparkbt serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparkbt.errors import ConfigError
from sparkbt.research.policy import MAX_POLICY_BYTES, load_policy, loads_policy

DEEP = "a = " + "[" * 5000 + "]" * 5000 + "\n"
LONG_INT = "[gates.max_drawdown]\nlimit = 1" + "0" * 5000 + "\n"
BIG_INT = "[gates.min_trades]\nlimit = 1" + "0" * 4000 + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP, "nests deeper than 8 levels"),
        (LONG_INT, "invalid TOML: Exceeds the limit"),
        (BIG_INT, "limit must have at most 30 digits"),
        ("# pad\n" * (MAX_POLICY_BYTES // 6 + 1), "larger than 1024 KiB"),
    ],
)
def test_malformed_policy_file_is_one_line_naming_it(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    line = str(err.value)
    assert line.startswith(f"{path}: ") and message in line and "\n" not in line
    with pytest.raises(ConfigError, match=message):
        loads_policy(text, "inline")


def test_a_never_ending_file_is_read_with_a_cap() -> None:
    with pytest.raises(ConfigError, match=r"^/dev/zero: policy file is larger than 1024 KiB$"):
        load_policy("/dev/zero")


def test_a_small_policy_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[gates.min_trades]\nlimit = 12\n[gates.lookahead]\naction = 'warn'\n")
    policy = load_policy(path)
    assert policy.gate("min_trades").limit == 12.0
    assert policy.gate("lookahead").action == "warn"


@pytest.mark.parametrize("command", [["guard", "policy"], ["serve", "--port", "4999"]])
def test_cli_and_serve_refuse_dev_zero_in_one_line(tmp_path: Path, command: list[str]) -> None:
    env = {**os.environ, "SPARKBT_ADMIN_TOKEN": "t" * 32}
    proc = subprocess.run(
        [sys.executable, "-m", "sparkbt", *command, "--policy", "/dev/zero"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: /dev/zero: policy file is larger than 1024 KiB"
