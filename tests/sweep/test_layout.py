"""How the sweep code is laid out: names that resolve, imports that point one way."""

from __future__ import annotations

import sparkbt as sb


def test_the_package_and_the_functions_have_different_names() -> None:
    import sparkbt.sweeps.evidence

    # the package is sparkbt.sweeps; sb.sweep and sb.walk_forward are functions
    assert sparkbt.sweeps.evidence.save_sweep is sparkbt.sweeps.save_sweep
    assert callable(sb.sweep) and sb.sweep is sparkbt.sweeps.sweep
    assert callable(sb.walk_forward) and sb.walk_forward is sparkbt.sweeps.walk_forward
