"""Renders one Kubernetes Deployment per registered source into ``deploy/kubernetes/connectors.yaml``.

The connectors' Deployments differ only in their name and module, so they are made from the source registry
rather than copied by hand: a new source gets its Deployment from ``make deploy-manifests``, and a test fails when
the checked-in file is stale. How many replicas each runs is the deployment's choice, set in the kustomization.
"""

from __future__ import annotations

import sys
from pathlib import Path
from string import Template

from iko_shared.sources import SourceEntry, registered_sources

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "deploy" / "kubernetes" / "connectors.yaml"
TEMPLATE = Template((Path(__file__).resolve().parent / "templates" / "connector-deployment.yaml").read_text())
HEADER = "# Generated from the source registry by `make deploy-manifests` (tools/render_connectors.py): do not edit.\n"


def deployment(entry: SourceEntry) -> str:
    return TEMPLATE.substitute(name=entry.name, module=entry.connector_module)


def render() -> str:
    return HEADER + "---\n".join(deployment(entry) for entry in registered_sources())


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(registered_sources())} connectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
