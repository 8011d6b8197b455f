"""Checks over `docker-compose config --format json` (scripts/validate-deploy.sh): published
ports bind to loopback unless asked otherwise, and no service gets environment it ignores.
Usage: python3 compose.py COMPOSE.json"""
import json
import sys

IGNORED_ENV = {"RUST_LOG": "the services read telemetry.log_filter (TOLLGATE_TELEMETRY__LOG_FILTER)"}

errors = []
with open(sys.argv[1]) as f:
    services = json.load(f)["services"]
for name, svc in services.items():
    for p in svc.get("ports") or []:
        if p.get("published") and p.get("host_ip") not in ("127.0.0.1", "::1"):
            errors.append(
                f"service {name} publishes {p['published']} on {p.get('host_ip') or 'every interface'}: "
                "bind it to 127.0.0.1 by default"
            )
    for var in (svc.get("environment") or {}).keys() & IGNORED_ENV.keys():
        errors.append(f"service {name} sets {var}, which is ignored: {IGNORED_ENV[var]}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
