"""Glue for CI services: the logic behind the GitHub Action (`action.yml` at the repository
root runs `python -m auditor.ci.github`)."""
