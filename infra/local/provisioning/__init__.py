"""Provisioning of the local cloud from template.yaml (see infra/local/provision.py)."""
