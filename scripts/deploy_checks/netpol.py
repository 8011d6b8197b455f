"""The NetworkPolicies, evaluated: every flow the design needs must be allowed (both the sender's
egress and the receiver's ingress), and a few flows that must stay closed must be refused.

A small evaluator of networking.k8s.io/v1 semantics: a pod selected by no policy of a direction
is open in that direction; otherwise a flow needs one rule (peers and ports) of one selecting
policy. ipBlock peers match addresses outside the cluster only (what the API promises), so a
flow to an in-cluster pod must be allowed by pod or namespace selectors."""
import ipaddress
import re
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib
from urllib.parse import urlsplit

from manifests import container_port, selects

EXTERNAL_IP = "203.0.113.10"  # TEST-NET-3: "somewhere outside the cluster"
PROMETHEUS = ("monitoring", {"app.kubernetes.io/name": "prometheus"})
KUBE_DNS = ("kube-system", {"k8s-app": "kube-dns"})


class Pod:
    def __init__(self, name, namespace, labels):
        self.name, self.namespace, self.labels = name, namespace, labels

    def __repr__(self):
        return self.name


class External:
    name = "outside"

    def __init__(self, ip=EXTERNAL_IP):
        self.ip = ipaddress.ip_address(ip)

    def __repr__(self):
        return f"outside ({self.ip})"


def _ports_match(ports, port, protocol):
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        if isinstance(p["port"], str):
            raise ValueError(f"named port {p['port']!r} in a NetworkPolicy: use numbers")
        end = p.get("endPort", p["port"])
        if p["port"] <= port <= end:
            return True
    return False


def _peer_matches(peer, other, policy_ns):
    if "ipBlock" in peer:
        if not isinstance(other, External):
            return False
        block = peer["ipBlock"]
        if other.ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(other.ip in ipaddress.ip_network(e) for e in block.get("except") or [])
    if isinstance(other, External):
        return False
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is not None:
        ns_ok = selects(ns_sel, {"kubernetes.io/metadata.name": other.namespace})
    else:
        ns_ok = other.namespace == policy_ns
    pod_ok = pod_sel is None or selects(pod_sel, other.labels)
    return ns_ok and pod_ok


def _side_allows(policies, pod, other, port, protocol, direction):
    """Whether `pod`'s policies of `direction` let the flow with `other` through."""
    field, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    applying = [
        p for p in policies
        if p["metadata"].get("namespace", "default") == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not applying:
        return True
    for p in applying:
        ns = p["metadata"].get("namespace", "default")
        for rule in p["spec"].get(field) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(peer, other, ns) for peer in peers):
                continue
            if _ports_match(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(policies, src, dst, port, protocol="TCP"):
    if isinstance(src, Pod) and not _side_allows(policies, src, dst, port, protocol, "Egress"):
        return False
    if isinstance(dst, Pod) and not _side_allows(policies, dst, src, port, protocol, "Ingress"):
        return False
    return True


def _url_port(url):
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80), parts.hostname


def preset_ports():
    """Ports of every provider preset's base_url: routing must reach each of them."""
    with open("crates/config/src/presets.toml", "rb") as f:
        presets = tomllib.load(f)
    ports = {}
    for name, p in presets.items():
        if isinstance(p, dict) and "base_url" in p:
            ports.setdefault(_url_port(p["base_url"])[0], name)
    ports.setdefault(443, "bedrock")  # its base_url is derived from the region: https
    return ports


def check(m):
    errors = []
    policies = m.of_kind("NetworkPolicy")
    if not policies:
        return ["no NetworkPolicy at all"]
    pods = {m.component(w): Pod(m.component(w), m.namespace(w), m.pod_labels(w)) for w in m.workloads()}
    wl = {m.component(w): w for w in m.workloads()}
    outside = External()
    prometheus = Pod("prometheus", *PROMETHEUS)
    dns = Pod("kube-dns", *KUBE_DNS)

    default_deny = any(
        p["spec"]["podSelector"] == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
        for p in policies
    )
    if not default_deny:
        errors.append("no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")

    must, must_not = [], []  # (src, dst, port, protocol, why)
    for name, pod in pods.items():
        must.append((pod, dns, 53, "UDP", "DNS"))
    services = {"edge", "routing", "billing", "logging"} & set(pods)
    for name in sorted(services):
        w = wl[name]
        port = container_port(w, "metrics") or container_port(w, "http")
        if port:
            must.append((prometheus, pods[name], port, "TCP", "Prometheus scrapes /metrics"))
        must.append((pods[name], outside, 4317, "TCP", "OTLP traces to the collector"))
        if name != "edge":
            grpc = container_port(w, "grpc")
            must_not.append((outside, pods[name], grpc, "TCP", "internal gRPC is not public"))
            if container_port(w, "metrics"):
                must_not.append((outside, pods[name], container_port(w, "metrics"), "TCP", "metrics are for Prometheus"))
    if "edge" in pods:
        edge = pods["edge"]
        must.append((outside, edge, container_port(wl["edge"], "http"), "TCP", "clients reach the edge"))
        for svc in ("routing", "billing", "logging"):
            if svc in pods:
                must.append((edge, pods[svc], container_port(wl[svc], "grpc"), "TCP", f"edge calls {svc}"))
        for port, why in ((5432, "Postgres"), (6379, "Redis"), (443, "JWKS fetches and budget webhooks")):
            must.append((edge, outside, port, "TCP", why))
        must_not.append((edge, outside, 22, "TCP", "the edge has no business on arbitrary ports"))
        admin = container_port(wl["edge"], "admin")
        if admin:
            must_not.append((outside, edge, admin, "TCP", "the admin listener stays private"))
    for svc in ("billing", "logging"):
        if svc in pods:
            must.append((pods[svc], outside, 5432, "TCP", "Postgres"))
            must_not.append((pods[svc], outside, 443, "TCP", f"{svc} calls no provider"))
    if "routing" in pods:
        routing = pods["routing"]
        if "billing" in pods:
            must.append((routing, pods["billing"], container_port(wl["billing"], "grpc"), "TCP", "routing's usage backstop"))
        for port, preset in sorted(preset_ports().items()):
            must.append((routing, outside, port, "TCP", f"providers (preset {preset})"))
        cfg = m.config() or {}
        for p in cfg.get("providers") or []:
            if "base_url" not in p:
                continue
            port, host = _url_port(p["base_url"])
            svc = m.find("Service", host.split(".")[0]) if host else None
            if svc:
                for name, pod in pods.items():
                    if selects({"matchLabels": svc["spec"]["selector"]}, pod.labels):
                        target = next((sp.get("targetPort") for sp in svc["spec"]["ports"] if sp["port"] == port), port)
                        if isinstance(target, str):
                            target = container_port(wl[name], target)
                        must.append((routing, pod, target, "TCP", f"provider {p['name']} ({p['base_url']})"))
            else:
                must.append((routing, outside, port, "TCP", f"provider {p['name']} ({p['base_url']})"))

    for src, dst, port, proto, why in must:
        if port is None:
            errors.append(f"{src} -> {dst}: no port found ({why})")
        elif not allowed(policies, src, dst, port, proto):
            errors.append(f"{src} -> {dst}:{port}/{proto} is blocked; needed for: {why}")
    for src, dst, port, proto, why in must_not:
        if port is not None and allowed(policies, src, dst, port, proto):
            errors.append(f"{src} -> {dst}:{port}/{proto} is open; it must not be: {why}")
    return errors
