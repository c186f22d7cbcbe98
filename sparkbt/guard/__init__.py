"""Guardrails: policies of gates evaluated on the evidence of a param change."""
