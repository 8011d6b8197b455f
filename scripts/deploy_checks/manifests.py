"""Rendered Kubernetes manifests as the checks see them: workloads, their pods' labels, the
config file of the tollgate-config ConfigMap, and label-selector matching."""
import re
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def selects(selector, labels):
    """Whether a LabelSelector selects `labels` (an empty selector selects everything)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Manifests:
    def __init__(self, path):
        self.path = path
        self.docs = load(path)

    def of_kind(self, *kinds):
        return [d for d in self.docs if d.get("kind") in kinds]

    def find(self, kind, name):
        for d in self.docs:
            if d.get("kind") == kind and d["metadata"]["name"] == name:
                return d
        return None

    def workloads(self):
        return self.of_kind(*WORKLOAD_KINDS)

    def namespace(self, doc):
        return doc["metadata"].get("namespace", "default")

    def pod_labels(self, workload):
        return workload["spec"]["template"]["metadata"].get("labels") or {}

    def component(self, workload):
        return self.pod_labels(workload).get("app.kubernetes.io/component", workload["metadata"]["name"])

    def workload_of(self, component):
        for w in self.workloads():
            if self.component(w) == component:
                return w
        return None

    def config(self):
        """tollgate.toml of the tollgate-config ConfigMap (name carries kustomize's hash)."""
        for cm in self.of_kind("ConfigMap"):
            if re.match(r"^tollgate-config(-[a-z0-9]+)?$", cm["metadata"]["name"]):
                return tomllib.loads(cm["data"]["tollgate.toml"])
        return None

    def hpa_for(self, workload):
        for h in self.of_kind("HorizontalPodAutoscaler"):
            ref = h["spec"]["scaleTargetRef"]
            if ref["kind"] == workload["kind"] and ref["name"] == workload["metadata"]["name"]:
                return h
        return None

    def min_pods(self, workload):
        """The fewest pods the workload runs: the HPA's minReplicas, else spec.replicas (1)."""
        h = self.hpa_for(workload)
        if h:
            return h["spec"].get("minReplicas", 1)
        return workload["spec"].get("replicas", 1)


def containers(workload, init=False):
    spec = workload["spec"]["template"]["spec"]
    return (spec.get("initContainers") or []) if init else (spec.get("containers") or [])


def container_port(workload, name):
    for c in containers(workload):
        for p in c.get("ports") or []:
            if p.get("name") == name:
                return p["containerPort"]
    return None


def env_names(container):
    return {e["name"] for e in container.get("env") or []}
