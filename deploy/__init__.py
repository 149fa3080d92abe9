"""Deployment material: systemd units, compose files, manifests, and the local Tryton sandbox."""
