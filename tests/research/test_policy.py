"""Guard policies: defaults, TOML files, validation messages, hashes and round trips."""

from __future__ import annotations

import pytest

from sparkbt.errors import ConfigError, InputError
from sparkbt.research.policy import GATES, default_policy, load_policy, loads_policy

DEFAULTS = {
    "max_drawdown": (0.25, "block"),
    "min_trades": (30.0, "block"),
    "min_oos_sharpe": (0.5, "block"),
    "max_oos_degradation": (0.5, "warn"),
    "min_dsr": (0.9, "block"),
    "max_pbo": (0.5, "block"),
    "lookahead": (None, "block"),
    "max_param_change": (0.5, "warn"),
}


def test_default_policy_has_every_gate_in_order() -> None:
    policy = default_policy()
    assert [g.name for g in policy.gates] == list(DEFAULTS) == list(GATES)
    assert {g.name: (g.limit, g.action) for g in policy.gates} == DEFAULTS
    assert policy.to_dict()["gates"]["lookahead"] == {"action": "block"}
    assert policy.source == "default"


def test_module_docstring_documents_every_gate() -> None:
    import sparkbt.research.policy as mod

    for name in GATES:
        assert f"``{name}``" in (mod.__doc__ or "")


def test_file_overrides_named_gates_only(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        "# stricter drawdown, trades only warn\n"
        "[gates.max_drawdown]\nlimit = 0.2\n\n"
        '[gates.min_trades]\naction = "warn"\n\n'
        '[gates.lookahead]\naction = "warn"\n'
    )
    policy = load_policy(path)
    assert policy.gate("max_drawdown").limit == 0.2
    assert policy.gate("max_drawdown").action == "block"
    assert (policy.gate("min_trades").limit, policy.gate("min_trades").action) == (30.0, "warn")
    assert policy.gate("lookahead").action == "warn"
    assert policy.gate("min_dsr") == default_policy().gate("min_dsr")
    assert policy.source == str(path)


def test_hash_is_of_effective_gates() -> None:
    base = default_policy()
    assert len(base.sha256) == 64
    assert loads_policy("").sha256 == base.sha256  # an empty file is the default policy
    # 30 and 30.0, a named gate at its default, key order: same effective gates, same hash
    same = loads_policy('[gates.min_trades]\naction = "block"\nlimit = 30\n')
    assert same == base
    assert same.sha256 == base.sha256
    assert loads_policy("[gates.min_trades]\nlimit = 31\n").sha256 != base.sha256


def test_to_toml_round_trips() -> None:
    policy = loads_policy(
        '[gates.max_pbo]\nlimit = 0.3\naction = "warn"\n[gates.min_oos_sharpe]\nlimit = -0.25\n'
    )
    text = policy.to_toml()
    again = loads_policy(text)
    assert again == policy
    assert again.sha256 == policy.sha256
    assert again.to_dict() == policy.to_dict()
    assert default_policy().to_toml().count("[gates.") == len(GATES)


BAD = [
    ("[gates.max_drawdwn]\nlimit = 0.2\n", "unknown gate 'max_drawdwn' (gates: max_drawdown,"),
    ("[gates.max_drawdwn]\nlimit = 0.2\n", "max_param_change); did you mean 'max_drawdown'?"),
    (
        "[gates.max_drawdown]\nlimt = 0.2\n",
        "[gates.max_drawdown] unknown key 'limt' (keys: limit, action); did you mean 'limit'?",
    ),
    (
        '[gates.max_drawdown]\nlimit = "x"\n',
        "[gates.max_drawdown] limit must be a number (got 'x')",
    ),
    ("[gates.max_drawdown]\nlimit = true\n", "limit must be a number (got True)"),
    ("[gates.max_drawdown]\nlimit = 1.5\n", "limit must be in [0, 1] (got 1.5)"),
    ("[gates.min_trades]\nlimit = -1\n", "limit must be >= 0 (got -1)"),
    ("[gates.min_oos_sharpe]\nlimit = nan\n", "limit must be finite (got nan)"),
    ('[gates.min_dsr]\naction = "stop"\n', 'action must be "block" or "warn" (got \'stop\')'),
    ("[gates.lookahead]\nlimit = 1\n", "[gates.lookahead] takes no limit (only action)"),
    ("[gates]\nmax_pbo = 0.4\n", "[gates.max_pbo] must be a table with limit and action"),
    ("gates = 3\n", "'gates' must be a table"),
    ("[gate.max_pbo]\nlimit = 0.4\n", "unknown key 'gate' (a policy has [gates.NAME] tables)"),
    ("[gate.max_pbo]\nlimit = 0.4\n", "tables); did you mean 'gates'?"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_validation_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads_policy(text, "p.toml")
    text_out = str(info.value)
    assert "\n" not in text_out
    assert text_out.startswith("p.toml: ")
    assert message in text_out


def test_malformed_toml_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[gates.max_drawdown]\nlimit = 0.2\naction block\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: invalid TOML: ")
    assert "line 3" in msg
    assert "\n" not in msg


def test_missing_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="policy file not found"):
        load_policy(tmp_path / "nope.toml")
