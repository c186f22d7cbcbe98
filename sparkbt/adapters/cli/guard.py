"""``sparkbt guard``: evaluate a guard policy offline on stored evidence, show a policy,
and the service's guardrails: propose a param change, show, list, approve, reject.

``sparkbt guard check RUN_OR_SWEEP_ID --policy policy.toml`` prints one row per
gate (result, value, limit, action) and the decision; ``--json`` prints the
decision record. A completed evaluation exits 0 whatever the decision; bad
input (unknown id, bad policy file) raises an InputError, which the root
command prints as one line with exit 2.

``propose``, ``show``, ``list``, ``approve``, ``reject`` and ``paramset`` are
clients of a running ``sparkbt serve`` (--url/$SPARKBT_URL, --key/$SPARKBT_API_KEY;
a proposal or decision is always the key's user's, never the admin token's): a
refusal (401, 403, 404, 409, 422) or an unreachable service is one line on stderr and exit 2.

The offline commands are :mod:`sparkbt.adapters.cli.guard_check`'s, the service clients
:mod:`sparkbt.adapters.cli.guard_proposals`'s; ``register`` puts them in one group.
"""

from __future__ import annotations

import typer

from sparkbt.adapters.cli.guard_check import check, show_policy
from sparkbt.adapters.cli.guard_proposals import (
    approve,
    list_proposals,
    propose,
    reject,
    show,
    show_paramset,
)

__all__ = [
    "approve",
    "check",
    "list_proposals",
    "propose",
    "register",
    "reject",
    "show",
    "show_paramset",
    "show_policy",
]


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add the ``guard`` command group (offline checks and service clients) to the root CLI."""
    guard_app = typer.Typer(
        help="Guardrails: evaluate a policy of gates on stored evidence; propose, review "
        "and approve param changes on a running `sparkbt serve`.",
        no_args_is_help=True,
    )
    guard_app.command("check")(check)
    guard_app.command("policy")(show_policy)
    guard_app.command(
        "propose", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(propose)
    guard_app.command("show")(show)
    guard_app.command("list")(list_proposals)
    guard_app.command("approve")(approve)
    guard_app.command("reject")(reject)
    guard_app.command("paramset")(show_paramset)
    app.add_typer(guard_app, name="guard")
