"""Scaling objects: HPAs own the replica count of what they scale, scale edge and routing on CPU
and on in-flight requests (a metric the edge really exports), PodDisruptionBudgets never block a
drain, pods spread over nodes and zones, and the Redis-down fallback share cannot be outgrown by
the autoscaler (edge.limits.replicas >= the most edges that can run)."""
import glob
import re

from manifests import selects

SCALED = ("edge", "routing")  # must have an HPA on CPU and on in-flight requests
SERVICES = ("edge", "routing", "billing", "logging")
SPREAD_KEYS = {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def exported_metrics():
    """Metric names the services register: metrics::gauge!/counter!/histogram! with the name as
    a literal, or as a `const NAME: &str = "..."` of the same file."""
    names = set()
    for path in glob.glob("crates/*/src/**/*.rs", recursive=True):
        with open(path) as f:
            src = f.read()
        names.update(re.findall(r'(?:gauge|counter|histogram)!\(\s*"([a-z0-9_]+)"', src))
        consts = dict(re.findall(r'const ([A-Z0-9_]+): &str = "([a-z0-9_]+)";', src))
        for ident in re.findall(r'(?:gauge|counter|histogram)!\(\s*([A-Z0-9_]+)\b', src):
            if ident in consts:
                names.add(consts[ident])
    return names


def _max_pods(m, workload):
    """The most pods the workload can run at once: the HPA's maxReplicas (or spec.replicas),
    plus a Deployment's rolling-update surge (a StatefulSet never surges)."""
    h = m.hpa_for(workload)
    top = h["spec"]["maxReplicas"] if h else workload["spec"].get("replicas", 1)
    if workload["kind"] == "Deployment":
        surge = ((workload["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
        if isinstance(surge, str) and surge.endswith("%"):
            surge = -(-top * int(surge[:-1]) // 100)
        top += int(surge)
    return top


def check(m):
    errors = []
    exported = exported_metrics()
    for h in m.of_kind("HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        target = m.find(ref["kind"], ref["name"])
        name = h["metadata"]["name"]
        if target is None:
            errors.append(f"HPA {name} scales {ref['kind']}/{ref['name']}, which is not in the manifests")
            continue
        if "replicas" in target["spec"]:
            errors.append(
                f"{ref['kind']}/{ref['name']} sets spec.replicas beside HPA {name}: every apply snaps "
                "the autoscaled count back; drop it"
            )
        for metric in h["spec"].get("metrics") or []:
            kind = metric["type"]
            if kind in ("Pods", "External", "Object"):
                mname = metric[kind.lower()]["metric"]["name"]
                if mname not in exported:
                    errors.append(f"HPA {name} scales on {mname}, which no service exports")

    for comp in SERVICES:
        w = m.workload_of(comp)
        if w is None:
            continue
        wname = f"{w['kind']}/{w['metadata']['name']}"
        labels = m.pod_labels(w)
        h = m.hpa_for(w)
        if comp in SCALED:
            if h is None:
                errors.append(f"{wname} has no HorizontalPodAutoscaler")
            else:
                kinds = {x["type"] for x in h["spec"].get("metrics") or []}
                cpu = any(
                    x["type"] == "Resource" and x["resource"]["name"] == "cpu" for x in h["spec"]["metrics"]
                )
                if not cpu:
                    errors.append(f"HPA of {wname} does not scale on CPU")
                if not kinds & {"Pods", "External", "Object"}:
                    errors.append(f"HPA of {wname} does not scale on in-flight requests")
        pdbs = [p for p in m.of_kind("PodDisruptionBudget") if selects(p["spec"]["selector"], labels)]
        if not pdbs:
            errors.append(f"{wname} has no PodDisruptionBudget")
        least = m.min_pods(w)
        for p in pdbs:
            spec = p["spec"]
            if "minAvailable" in spec and isinstance(spec["minAvailable"], int) and spec["minAvailable"] >= least:
                errors.append(
                    f"PDB {p['metadata']['name']}: minAvailable {spec['minAvailable']} with as few as {least} "
                    f"pod(s) of {wname} blocks every node drain"
                )
            if spec.get("maxUnavailable") in (0, "0%"):
                errors.append(f"PDB {p['metadata']['name']}: maxUnavailable 0 blocks every node drain")
        spread = w["spec"]["template"]["spec"].get("topologySpreadConstraints") or []
        keys = {c["topologyKey"] for c in spread if selects(c.get("labelSelector"), labels)}
        if not SPREAD_KEYS <= keys:
            errors.append(
                f"{wname}: topologySpreadConstraints selecting its own pods miss "
                f"{', '.join(sorted(SPREAD_KEYS - keys))}"
            )

    edge = m.workload_of("edge")
    cfg = m.config()
    if edge is not None and cfg is not None:
        replicas = ((cfg.get("edge") or {}).get("limits") or {}).get("replicas", 1)
        most = _max_pods(m, edge)
        if replicas < most:
            errors.append(
                f"edge.limits.replicas = {replicas} in tollgate.toml, but up to {most} edges can run: an edge "
                "that starts while Redis is away divides by it, so the fallback could admit "
                f"{most}/{replicas} times a limit; set it to at least {most}"
            )
    return errors
