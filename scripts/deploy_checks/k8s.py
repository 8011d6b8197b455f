"""Checks over rendered Kubernetes manifests (scripts/validate-deploy.sh): one line per error,
exit status 1 when there is any.  Usage: python3 k8s.py RENDERED.yaml"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import netpol  # noqa: E402
import scaling  # noqa: E402
import workloads  # noqa: E402
from manifests import Manifests  # noqa: E402

m = Manifests(sys.argv[1])
errors = []
for module in (netpol, scaling, workloads):
    errors += [f"{module.__name__}: {e}" for e in module.check(m)]
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
