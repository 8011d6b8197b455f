"""What each pod runs with: migrations before a Postgres-using service serves, the edge's usage
spool on storage that outlives the pod, and no environment the services ignore."""
import posixpath

from manifests import containers, env_names

IGNORED_ENV = {"RUST_LOG": "the services read telemetry.log_filter (TOLLGATE_TELEMETRY__LOG_FILTER)"}


def _runs_migrate(container):
    argv = (container.get("command") or []) + (container.get("args") or [])
    return "migrate" in argv


def check(m):
    errors = []
    for job in m.of_kind("Job"):
        if any(_runs_migrate(c) for c in job["spec"]["template"]["spec"]["containers"]):
            errors.append(
                f"Job/{job['metadata']['name']} runs migrations: a Job is immutable and may not have run "
                "before new pods serve; migrate in an init container of each Postgres-using workload"
            )
    for w in m.workloads():
        wname = f"{w['kind']}/{w['metadata']['name']}"
        for c in containers(w) + containers(w, init=True):
            for name in env_names(c) & IGNORED_ENV.keys():
                errors.append(f"{wname} container {c['name']} sets {name}, which is ignored: {IGNORED_ENV[name]}")
        uses_db = any("TOLLGATE_DATABASE__URL" in env_names(c) for c in containers(w))
        if uses_db and not any(_runs_migrate(c) for c in containers(w, init=True)):
            errors.append(f"{wname} uses Postgres but no init container migrates before it serves")

    edge = m.workload_of("edge")
    cfg = m.config()
    if edge is not None and cfg is not None:
        spool = ((cfg.get("edge") or {}).get("usage") or {}).get("spool_dir", ".tollgate/spool")
        volumes = {v["name"]: v for v in edge["spec"]["template"]["spec"].get("volumes") or []}
        claims = {t["metadata"]["name"] for t in edge["spec"].get("volumeClaimTemplates") or []}
        mounted = None
        for c in containers(edge):
            for vm in c.get("volumeMounts") or []:
                rel = posixpath.relpath(posixpath.normpath(spool), vm["mountPath"])
                if not rel.startswith(".."):
                    mounted = vm["name"]
        if mounted is None:
            errors.append(f"edge.usage.spool_dir {spool} is on no volume: the container's own filesystem")
        elif mounted not in claims and "persistentVolumeClaim" not in volumes.get(mounted, {}):
            errors.append(
                f"edge.usage.spool_dir {spool} is on volume {mounted!r}, not a PersistentVolumeClaim: "
                "unacknowledged usage (money) dies with the pod"
            )
    return errors
