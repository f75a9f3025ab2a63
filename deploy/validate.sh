#!/usr/bin/env bash
# Validates the deployment files OFFLINE, without a cluster and without Docker:
#
#   * Kubernetes manifests: every kustomization (base, overlays/*, the alternatives component on
#     top of the base) is checked for missing files, rendered (with `kustomize build` or
#     `kubectl kustomize` when one is on PATH, else by a small built-in renderer), and each
#     built-in object is validated against the Kubernetes JSON schemas (strict: unknown fields
#     are errors) of every version in K8S_VERSIONS. KEDA's custom resources (ScaledObject,
#     TriggerAuthentication) have no bundled schema and get a structural check instead. Then the
#     objects are checked against each other: selectors, named ports, Secret/ConfigMap references,
#     autoscaler targets, probes, resources and the security context.
#   * deploy/docker-compose.yml: parsed, services and their wiring checked.
#   * Dockerfile and .dockerignore: build targets, non-root users, ports.
#
# Needs python3 with pip and access to PyPI the first time: the PyPI package kubernetes-validate
# (which bundles the schemas) and PyYAML are installed into a venv under /tmp (or with
# `pip --target` when the venv module is missing); later runs reuse it.
#
# Environment:
#   K8S_VERSIONS     Kubernetes versions to validate against (default: "1.30 <newest bundled>")
#   RENDERER         auto (default) | kustomize | kubectl | python
#   VALIDATE_DEPS    where to install the Python dependencies (default /tmp/crm-marketing-validate)
#   PYTHON           python interpreter (default python3)
#
# Exit status 0 when every check passed, 1 when one failed, 2 when the tools could not be set up.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
DEPS="${VALIDATE_DEPS:-/tmp/crm-marketing-validate}"
REQUIREMENTS=("kubernetes-validate==1.37.0" "PyYAML>=6")

have_deps() { "$1" -c 'import kubernetes_validate, yaml' >/dev/null 2>&1; }

command -v "$PY" >/dev/null || { echo "validate: $PY not found" >&2; exit 2; }

if have_deps "$PY"; then
  RUN_PY="$PY"
elif [ -x "$DEPS/venv/bin/python" ] && have_deps "$DEPS/venv/bin/python"; then
  RUN_PY="$DEPS/venv/bin/python"
elif [ -d "$DEPS/site" ] && PYTHONPATH="$DEPS/site" have_deps "$PY"; then
  export PYTHONPATH="$DEPS/site${PYTHONPATH:+:$PYTHONPATH}"
  RUN_PY="$PY"
else
  echo "validate: installing ${REQUIREMENTS[*]} (PyPI) under $DEPS"
  mkdir -p "$DEPS"
  export PIP_ROOT_USER_ACTION=ignore
  pip_flags=(--quiet --disable-pip-version-check --no-input)
  if "$PY" -m venv "$DEPS/venv" >/dev/null 2>&1 \
    && "$DEPS/venv/bin/python" -m pip install "${pip_flags[@]}" "${REQUIREMENTS[@]}"; then
    RUN_PY="$DEPS/venv/bin/python"
  else
    # Debian without python3-venv: no ensurepip. `pip --target` works there (and is not blocked
    # by PEP 668's externally-managed marker).
    rm -rf "$DEPS/venv"
    "$PY" -m pip --version >/dev/null 2>&1 || {
      echo "validate: neither the venv module nor pip works for $PY (apt-get install python3-pip)" >&2
      exit 2
    }
    "$PY" -m pip install "${pip_flags[@]}" --upgrade --target "$DEPS/site" "${REQUIREMENTS[@]}" || {
      echo "validate: could not install ${REQUIREMENTS[*]}" >&2
      exit 2
    }
    export PYTHONPATH="$DEPS/site${PYTHONPATH:+:$PYTHONPATH}"
    RUN_PY="$PY"
  fi
  have_deps "$RUN_PY" || { echo "validate: the installed packages do not import" >&2; exit 2; }
fi

exec "$RUN_PY" - "$DEPLOY_DIR" <<'PYEOF'
import base64
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv

DEPLOY = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(DEPLOY)
K8S = os.path.join(DEPLOY, "k8s")

PASSED = 0
FAILED = 0


def ok(msg):
    global PASSED
    PASSED += 1
    print(f"  ok    {msg}")


def fail(msg):
    global FAILED
    FAILED += 1
    print(f"  FAIL  {msg}")


def check(cond, msg, why=""):
    if cond:
        ok(msg)
    else:
        fail(f"{msg}{': ' + why if why else ''}")
    return bool(cond)


def section(title):
    print(f"\n== {title}")


def rel(path):
    return os.path.relpath(path, ROOT)


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ------------------------------------------------------------------------------------------
# Versions and renderer
# ------------------------------------------------------------------------------------------
bundled = kv.all_versions()
latest = kv.major_minor(bundled[-1])
VERSIONS = os.environ.get("K8S_VERSIONS", f"1.30 {latest}").split()
VERSIONS = list(dict.fromkeys(VERSIONS))
bundled_mm = {kv.major_minor(v) for v in bundled}

renderer = os.environ.get("RENDERER", "auto")
if renderer == "auto":
    if shutil.which("kustomize"):
        renderer = "kustomize"
    elif shutil.which("kubectl"):
        renderer = "kubectl"
    else:
        renderer = "python"

print(f"validate: {rel(DEPLOY)}/ with kubernetes-validate {kubernetes_validate.__version__} "
      f"(schemas {bundled[0]}..{bundled[-1]}), PyYAML {yaml.__version__}, renderer: {renderer}")
print(f"validate: Kubernetes versions: {' '.join(VERSIONS)}")
for v in VERSIONS:
    if kv.major_minor(v) not in bundled_mm:
        fail(f"Kubernetes {v} is not bundled with kubernetes-validate "
             f"{kubernetes_validate.__version__} (has {' '.join(sorted(bundled_mm))})")

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PriorityClass", "StorageClass", "PersistentVolume", "ClusterTriggerAuthentication"}
CRD_GROUPS = {"keda.sh"}
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(d):
    for n in KUSTOMIZATION_NAMES:
        p = os.path.join(d, n)
        if os.path.isfile(p):
            return p
    return None


def group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


# ------------------------------------------------------------------------------------------
# Kustomization file references
# ------------------------------------------------------------------------------------------
def generator_paths(gen):
    out = []
    for f in gen.get("files", []) or []:
        out.append(f.split("=", 1)[1] if "=" in f else f)
    out += gen.get("envs", []) or []
    if gen.get("env"):
        out.append(gen["env"])
    return out


def kustomization_refs(k):
    """(field, path) of every local file or directory a kustomization names."""
    refs = []
    for field in ("resources", "components", "bases", "crds", "configurations", "generators",
                  "transformers", "validators", "patchesStrategicMerge"):
        for r in k.get(field, []) or []:
            if isinstance(r, str) and "\n" not in r:
                refs.append((field, r))
    for field in ("patches", "patchesJson6902"):
        for p in k.get(field, []) or []:
            if isinstance(p, dict) and p.get("path"):
                refs.append((field, p["path"]))
    for field in ("configMapGenerator", "secretGenerator"):
        for g in k.get(field, []) or []:
            refs += [(field, p) for p in generator_paths(g)]
    return refs


def check_kustomization_tree(d, seen):
    d = os.path.abspath(d)
    if d in seen:
        return
    seen.add(d)
    kf = kustomization_file(d)
    if not check(kf, f"{rel(d)}/ has a kustomization file"):
        return
    try:
        k = yaml.safe_load(open(kf)) or {}
    except yaml.YAMLError as e:
        fail(f"{rel(kf)} parses: {e}")
        return
    refs = kustomization_refs(k)
    missing = []
    for field, r in refs:
        if re.match(r"^[a-z]+://", r) or r.startswith("github.com/"):
            fail(f"{rel(kf)}: {field} entry {r} is remote (this check is offline)")
            continue
        p = os.path.normpath(os.path.join(d, r))
        if os.path.isdir(p):
            check_kustomization_tree(p, seen)
        elif os.path.isfile(p):
            if field in ("resources", "crds"):
                try:
                    docs = load_docs(p)
                    bad = [x for x in docs if not (isinstance(x, dict) and x.get("apiVersion")
                                                   and x.get("kind")
                                                   and (x.get("metadata") or {}).get("name"))]
                    if bad:
                        fail(f"{rel(p)}: every document has apiVersion, kind and metadata.name")
                except yaml.YAMLError as e:
                    fail(f"{rel(p)} parses: {e}")
        else:
            missing.append(f"{field}: {r}")
    check(not missing, f"{rel(kf)}: the {len(refs)} file(s) and folder(s) it lists exist",
          "; ".join(missing))


# ------------------------------------------------------------------------------------------
# Built-in renderer (used when neither kustomize nor kubectl is on PATH): resources,
# components, generators (no hash suffix), strategic-merge and JSON 6902 patches, images,
# namespace. Enough for this repository's kustomizations.
# ------------------------------------------------------------------------------------------
def rid(o):
    return (group_of(o.get("apiVersion", "")), o.get("kind"), o["metadata"].get("name"))


def merge_list(base, patch):
    keyed = all(isinstance(x, dict) for x in base + patch)
    key = None
    if keyed:
        for cand in ("name", "mountPath", "containerPort", "ip", "topologyKey"):
            if all(cand in x for x in base + patch):
                key = cand
                break
    if not key:
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    added = []
    for item in patch:
        match = next((x for x in out if x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if match is not None:
                out.remove(match)
        elif match is None:
            added.append(copy.deepcopy(item))
        else:
            out[out.index(match)] = strategic_merge(match, item)
    return added + out  # kustomize puts new list items first, in the patch's order


def strategic_merge(base, patch):
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = strategic_merge(out[k], v)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = merge_list(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def json_pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json6902(obj, ops):
    for op in ops:
        parts = json_pointer(op["path"])
        parent = obj
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, op["value"])
            elif kind == "replace":
                parent[idx] = op["value"]
            elif kind == "remove":
                del parent[idx]
            else:
                raise ValueError(f"unsupported JSON patch op {kind}")
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise KeyError(f"replace of missing path {op['path']}")
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent.get(last) != op.get("value"):
                    raise ValueError(f"test failed at {op['path']}")
            else:
                raise ValueError(f"unsupported JSON patch op {kind}")
    return obj


def target_matches(obj, t):
    api = obj.get("apiVersion", "")
    if t.get("kind") and t["kind"] != obj.get("kind"):
        return False
    if t.get("name") and not re.fullmatch(t["name"], obj["metadata"].get("name", "")):
        return False
    if t.get("group") is not None and t.get("group") != group_of(api):
        return False
    if t.get("version") and t["version"] != api.split("/")[-1]:
        return False
    if t.get("namespace") and t["namespace"] != obj["metadata"].get("namespace"):
        return False
    return True


def apply_patch(objs, d, p):
    text = p.get("patch")
    if p.get("path"):
        text = open(os.path.join(d, p["path"])).read()
    docs = [x for x in yaml.safe_load_all(text) if x is not None]
    if len(docs) == 1 and isinstance(docs[0], list):  # JSON 6902
        targets = [o for o in objs if target_matches(o, p.get("target") or {})]
        if not targets:
            raise ValueError(f"patch target {p.get('target')} matches nothing")
        for o in targets:
            json6902(o, copy.deepcopy(docs[0]))
        return objs
    for doc in docs:  # strategic merge
        if p.get("target"):
            targets = [o for o in objs if target_matches(o, p["target"])]
        else:
            targets = [o for o in objs if rid(o) == rid(doc)]
        if not targets:
            raise ValueError(f"patch {rid(doc)} matches nothing")
        for o in targets:
            if doc.get("$patch") == "delete":
                objs = [x for x in objs if x is not o]
            else:
                objs[objs.index(o)] = strategic_merge(o, doc)
    return objs


def read_env_file(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def apply_generator(objs, d, g, kind):
    data = {}
    for lit in g.get("literals", []) or []:
        k, v = lit.split("=", 1)
        data[k] = v
    for e in (g.get("envs", []) or []) + ([g["env"]] if g.get("env") else []):
        data.update(read_env_file(os.path.join(d, e)))
    for f in g.get("files", []) or []:
        key, path = f.split("=", 1) if "=" in f else (os.path.basename(f), f)
        data[key] = open(os.path.join(d, path)).read()
    behavior = g.get("behavior", "create")
    existing = next((o for o in objs if o["kind"] == kind and o["metadata"]["name"] == g["name"]),
                    None)

    def encoded(values):
        if kind == "Secret":
            return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        return dict(values)

    if behavior == "create":
        if existing is not None:
            raise ValueError(f"{kind} {g['name']} generated but already exists (behavior: create)")
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": g["name"]},
               "data": encoded(data)}
        if kind == "Secret":
            obj["type"] = g.get("type", "Opaque")
        objs.append(obj)
    else:
        if existing is None:
            raise ValueError(f"{kind} {g['name']} (behavior: {behavior}) has nothing to {behavior}")
        if behavior == "replace":
            existing.pop("stringData", None)
            existing["data"] = encoded(data)
        else:
            if kind == "Secret" and existing.get("stringData"):
                existing.setdefault("data", {}).update(encoded(existing.pop("stringData")))
            existing.setdefault("data", {}).update(encoded(data))
    return objs


def pod_specs(o):
    spec = o.get("spec") or {}
    if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [spec.get("template", {}).get("spec", {})]
    if o.get("kind") == "CronJob":
        return [spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})]
    if o.get("kind") == "Pod":
        return [spec]
    return []


def containers_of(o):
    out = []
    for ps in pod_specs(o):
        out += (ps.get("initContainers") or []) + (ps.get("containers") or [])
    return out


def split_image(image):
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    name, tag = image, ""
    if ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    return name, tag, digest


def python_render(d, objs=None, component=False):
    kf = kustomization_file(d)
    k = yaml.safe_load(open(kf)) or {}
    objs = [] if objs is None else objs
    for r in (k.get("resources", []) or []) + (k.get("bases", []) or []):
        p = os.path.normpath(os.path.join(d, r))
        objs += python_render(p) if os.path.isdir(p) else load_docs(p)
    for c in k.get("components", []) or []:
        objs = python_render(os.path.normpath(os.path.join(d, c)), objs, component=True)
    for g in k.get("configMapGenerator", []) or []:
        objs = apply_generator(objs, d, g, "ConfigMap")
    for g in k.get("secretGenerator", []) or []:
        objs = apply_generator(objs, d, g, "Secret")
    for p in k.get("patchesStrategicMerge", []) or []:
        objs = apply_patch(objs, d, {"path": p})
    for p in (k.get("patches", []) or []) + (k.get("patchesJson6902", []) or []):
        objs = apply_patch(objs, d, p)
    for img in k.get("images", []) or []:
        for o in objs:
            for c in containers_of(o):
                name, tag, digest = split_image(c.get("image", ""))
                if name != img["name"]:
                    continue
                name = img.get("newName", name)
                tag = img.get("newTag", tag)
                if img.get("digest"):
                    c["image"] = f"{name}@{img['digest']}"
                else:
                    c["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if k.get("namespace"):
        for o in objs:
            if o["kind"] not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = k["namespace"]
    return objs


def render(d):
    if renderer == "python":
        return python_render(d)
    cmd = ["kustomize", "build", d] if renderer == "kustomize" else ["kubectl", "kustomize", d]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-2000:]}")
    return [x for x in yaml.safe_load_all(res.stdout) if x is not None]


# ------------------------------------------------------------------------------------------
# Checks on a rendered set of objects
# ------------------------------------------------------------------------------------------
def labels_match(selector, labels):
    sel = (selector or {}).get("matchLabels") if "matchLabels" in (selector or {}) else selector
    return bool(sel) and all((labels or {}).get(k) == v for k, v in sel.items())


def find(objs, kind, name):
    return next((o for o in objs if o["kind"] == kind and o["metadata"].get("name") == name), None)


def secret_keys(o):
    return set((o.get("data") or {}).keys()) | set((o.get("stringData") or {}).keys())


def app_name(o):
    tmpl = ((o.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return (tmpl.get("labels") or {}).get("app.kubernetes.io/name") or o["metadata"]["name"]


EXPECT = {
    "campaign-svc": {"ports": {"http": 8080, "grpc": 50051}, "grace": 30,
                     "probe_port": "http", "metrics_port": "8080"},
    "dispatch-worker": {"ports": {"metrics": 9091}, "grace": 60,
                        "probe_port": "metrics", "metrics_port": "9091"},
}


def schema_check(label, o):
    kind = o.get("kind")
    name = (o.get("metadata") or {}).get("name")
    what = f"{label}: {o.get('apiVersion')} {kind} {name}"
    if not NAME_RE.match(name or "") or len(name) > 253:
        fail(f"{what}: metadata.name is a DNS-1123 name")
    done = []
    for v in VERSIONS:
        try:
            kv.validate(o, v, strict=True)
            done.append(v)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            fail(f"{what}: schema {v}: {path}: {e.message}")
            return
        except kv.SchemaNotFoundError as e:
            fail(f"{what}: no schema for this kind/apiVersion in Kubernetes {v} ({e.message})")
            return
        except kv.VersionNotSupportedError:
            fail(f"{what}: Kubernetes {v} not supported by kubernetes-validate")
            return
    ok(f"{what}: valid against the Kubernetes {', '.join(done)} schemas (strict)")


def env_names(container, objs):
    names = {e["name"] for e in container.get("env") or []}
    for ef in container.get("envFrom") or []:
        ref = ef.get("configMapRef") or ef.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in ef else "Secret"
        o = find(objs, kind, ref.get("name")) if ref else None
        if o:
            names |= {ef.get("prefix", "") + k for k in secret_keys(o)}
    return names


def config_value(objs, deployment, key, default=None):
    for c in containers_of(deployment):
        for e in c.get("env") or []:
            if e["name"] == key and "value" in e:
                return e["value"]
        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                cm = find(objs, "ConfigMap", ef["configMapRef"].get("name"))
                if cm and key in (cm.get("data") or {}):
                    return cm["data"][key]
    return default


def check_crd(label, o, objs):
    kind = o.get("kind")
    name = (o.get("metadata") or {}).get("name")
    what = f"{label}: {o.get('apiVersion')} {kind} {name} (custom resource: structural check)"
    problems = []
    if o.get("apiVersion") != "keda.sh/v1alpha1":
        problems.append(f"apiVersion {o.get('apiVersion')} is not keda.sh/v1alpha1")
    if not name or not NAME_RE.match(name):
        problems.append("metadata.name missing or not a DNS-1123 name")
    spec = o.get("spec") or {}
    if kind == "ScaledObject":
        ref = spec.get("scaleTargetRef") or {}
        tkind = ref.get("kind", "Deployment")
        target = find(objs, tkind, ref.get("name"))
        if not ref.get("name"):
            problems.append("spec.scaleTargetRef.name missing")
        elif target is None:
            problems.append(f"spec.scaleTargetRef {tkind} {ref.get('name')} is not in the output")
        elif app_name(target) != "dispatch-worker":
            problems.append(f"spec.scaleTargetRef {ref.get('name')} is not the dispatch-worker "
                            "Deployment")
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi):
            problems.append(f"minReplicaCount {lo} / maxReplicaCount {hi}")
        for other in objs:
            if other["kind"] == "HorizontalPodAutoscaler" and target is not None and \
                    (other["spec"].get("scaleTargetRef") or {}).get("name") == ref.get("name"):
                problems.append(f"HorizontalPodAutoscaler {other['metadata']['name']} also scales "
                                f"{ref.get('name')} (KEDA makes its own HPA)")
        triggers = spec.get("triggers") or []
        if not triggers:
            problems.append("spec.triggers is empty")
        for i, t in enumerate(triggers):
            md = t.get("metadata") or {}
            if not t.get("type"):
                problems.append(f"triggers[{i}].type missing")
            if t.get("type") != "rabbitmq":
                continue
            if md.get("mode") not in ("QueueLength", "MessageRate"):
                problems.append(f"triggers[{i}].metadata.mode {md.get('mode')!r}")
            if not (isinstance(md.get("value"), str) and re.fullmatch(r"\d+(\.\d+)?", md["value"])):
                problems.append(f"triggers[{i}].metadata.value must be a numeric string")
            if md.get("protocol", "auto") not in ("amqp", "http", "auto"):
                problems.append(f"triggers[{i}].metadata.protocol {md.get('protocol')!r}")
            if target is not None:
                prefix = config_value(objs, target, "QUEUE_PREFIX", "marketing")
                if md.get("queueName") != f"{prefix}.send":
                    problems.append(f"triggers[{i}].metadata.queueName {md.get('queueName')!r} "
                                    f"is not the worker's queue {prefix}.send")
            auth = (t.get("authenticationRef") or {})
            if auth:
                akind = auth.get("kind", "TriggerAuthentication")
                ta = find(objs, akind, auth.get("name"))
                if ta is None:
                    problems.append(f"triggers[{i}].authenticationRef {akind} "
                                    f"{auth.get('name')} is not in the output")
                elif "host" not in {r.get("parameter") for r in
                                    (ta.get("spec") or {}).get("secretTargetRef") or []} \
                        and not md.get("host") and not md.get("hostFromEnv"):
                    problems.append(f"{akind} {auth.get('name')} gives no `host` parameter")
            elif md.get("hostFromEnv"):
                if target is not None and not any(md["hostFromEnv"] in env_names(c, objs)
                                                  for c in containers_of(target)):
                    problems.append(f"hostFromEnv {md['hostFromEnv']} is not set on the target")
            elif not md.get("host"):
                problems.append(f"triggers[{i}] has no host, hostFromEnv or authenticationRef")
    elif kind in ("TriggerAuthentication", "ClusterTriggerAuthentication"):
        refs = spec.get("secretTargetRef") or []
        if not (refs or spec.get("env") or spec.get("podIdentity") or spec.get("hashiCorpVault")):
            problems.append("spec gives no credentials")
        for r in refs:
            if not (r.get("parameter") and r.get("name") and r.get("key")):
                problems.append(f"secretTargetRef entry {r} needs parameter, name and key")
                continue
            s = find(objs, "Secret", r["name"])
            if s is None:
                problems.append(f"Secret {r['name']} is not in the output")
            elif r["key"] not in secret_keys(s):
                problems.append(f"Secret {r['name']} has no key {r['key']}")
    else:
        problems.append("unknown custom resource kind (no schema, no structural check)")
    check(not problems, what, "; ".join(problems))


def check_workload(label, o, objs):
    name = o["metadata"]["name"]
    app = app_name(o)
    exp = EXPECT.get(app)
    what = f"{label}: Deployment {name}"
    problems = []
    spec = o["spec"]
    tmpl = spec["template"]
    if not labels_match(spec.get("selector"), tmpl["metadata"].get("labels")):
        problems.append("selector does not match the pod template labels")
    ps = tmpl["spec"]
    psc = ps.get("securityContext") or {}
    for c in ps.get("containers", []):
        cn = c["name"]
        sc = c.get("securityContext") or {}
        eff = dict(psc, **sc)
        if eff.get("runAsNonRoot") is not True:
            problems.append(f"{cn}: runAsNonRoot is not true")
        if not eff.get("runAsUser"):
            problems.append(f"{cn}: runAsUser is unset or 0")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cn}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cn}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{cn}: capabilities do not drop ALL")
        if (eff.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{cn}: seccompProfile is not RuntimeDefault")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    problems.append(f"{cn}: resources.{part}.{r} unset")
        if not c.get("image"):
            problems.append(f"{cn}: no image")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                            ("startupProbe", None)):
            pr = c.get(probe)
            if not pr:
                problems.append(f"{cn}: no {probe}")
                continue
            hg = pr.get("httpGet") or {}
            port = hg.get("port")
            if isinstance(port, str) and port not in ports:
                problems.append(f"{cn}: {probe} port {port} is not a named container port")
            if isinstance(port, int) and port not in ports.values():
                problems.append(f"{cn}: {probe} port {port} is not a container port")
            if path and hg.get("path") != path:
                problems.append(f"{cn}: {probe} path {hg.get('path')} (want {path})")
            if exp and port != exp["probe_port"]:
                problems.append(f"{cn}: {probe} on port {port} (want {exp['probe_port']})")
        for ef in c.get("envFrom") or []:
            kind = "ConfigMap" if "configMapRef" in ef else "Secret"
            ref = ef.get("configMapRef") or ef.get("secretRef") or {}
            if not ref.get("optional") and find(objs, kind, ref.get("name")) is None:
                problems.append(f"{cn}: envFrom {kind} {ref.get('name')} is not in the output")
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = vf.get(key)
                if not ref or ref.get("optional"):
                    continue
                tgt = find(objs, kind, ref.get("name"))
                if tgt is None:
                    problems.append(f"{cn}: env {e['name']}: {kind} {ref.get('name')} missing")
                elif ref.get("key") not in secret_keys(tgt):
                    problems.append(f"{cn}: env {e['name']}: {kind} {ref.get('name')} has no "
                                    f"key {ref.get('key')}")
        if exp:
            for pn, num in exp["ports"].items():
                if ports.get(pn) != num:
                    problems.append(f"{cn}: port {pn} is {ports.get(pn)} (want {num})")
            have = env_names(c, objs)
            for var in ("DATABASE_URL", "AMQP_URL", "QUEUE_PREFIX"):
                if var not in have:
                    problems.append(f"{cn}: {var} is not set")
            if app == "campaign-svc" and "API_TOKENS" not in have:
                problems.append(f"{cn}: API_TOKENS is not set")
            if app == "dispatch-worker" and "METRICS_ADDR" not in have:
                problems.append(f"{cn}: METRICS_ADDR is not set")
    if exp:
        if ps.get("terminationGracePeriodSeconds") != exp["grace"]:
            problems.append(f"terminationGracePeriodSeconds {ps.get('terminationGracePeriodSeconds')} "
                            f"(want {exp['grace']})")
        ann = tmpl["metadata"].get("annotations") or {}
        if ann.get("prometheus.io/scrape") != "true" or \
                ann.get("prometheus.io/port") != exp["metrics_port"]:
            problems.append("prometheus.io scrape annotations missing or on the wrong port")
    check(not problems, f"{what}: selector, probes, ports, env references, resources, "
                        "non-root security context", "; ".join(problems))


def check_set(label, objs, namespace=None, expect_keda=True):
    section(f"{label}: {len(objs)} objects")
    ids = [(o.get("kind"), (o.get("metadata") or {}).get("namespace"),
            (o.get("metadata") or {}).get("name")) for o in objs]
    dups = {i for i in ids if ids.count(i) > 1}
    check(not dups, f"{label}: object names are unique", str(sorted(dups)))
    for o in objs:
        if group_of(o.get("apiVersion", "")) in CRD_GROUPS:
            check_crd(label, o, objs)
        else:
            schema_check(label, o)
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    apps = {app_name(d) for d in deployments}
    check(apps >= {"campaign-svc", "dispatch-worker"},
          f"{label}: Deployments campaign-svc and dispatch-worker present", f"found {sorted(apps)}")
    for d in deployments:
        check_workload(label, d, objs)
    for s in (o for o in objs if o["kind"] == "Service"):
        sel = s["spec"].get("selector") or {}
        backs = [d for d in deployments if labels_match(sel, d["spec"]["template"]["metadata"]
                                                        .get("labels"))]
        problems = [] if backs else ["selector matches no Deployment"]
        for p in s["spec"].get("ports") or []:
            tp = p.get("targetPort", p["port"])
            named = {cp.get("name"): cp["containerPort"] for d in backs for c in containers_of(d)
                     for cp in c.get("ports") or []}
            if isinstance(tp, str) and tp not in named:
                problems.append(f"targetPort {tp} is not a container port of the selected pods")
            if isinstance(tp, int) and tp not in named.values():
                problems.append(f"targetPort {tp} is not a container port of the selected pods")
            if p.get("name") == "grpc" and p.get("appProtocol") != "grpc":
                problems.append("port grpc has no appProtocol: grpc")
        check(not problems, f"{label}: Service {s['metadata']['name']} selects pods and ports",
              "; ".join(problems))
    for pdb in (o for o in objs if o["kind"] == "PodDisruptionBudget"):
        backs = [d for d in deployments if labels_match(pdb["spec"].get("selector"),
                                                        d["spec"]["template"]["metadata"]
                                                        .get("labels"))]
        check(backs, f"{label}: PodDisruptionBudget {pdb['metadata']['name']} selects "
                     f"{', '.join(d['metadata']['name'] for d in backs) or 'nothing'}")
    covered = {app_name(d) for d in deployments for pdb in objs
               if pdb["kind"] == "PodDisruptionBudget"
               and labels_match(pdb["spec"].get("selector"),
                                d["spec"]["template"]["metadata"].get("labels"))}
    check(covered >= {"campaign-svc", "dispatch-worker"},
          f"{label}: both Deployments have a PodDisruptionBudget", f"covered: {sorted(covered)}")
    scaled = {}
    for h in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        tgt = find(objs, ref.get("kind"), ref.get("name"))
        sp = h["spec"]
        good = tgt is not None and sp.get("minReplicas", 1) <= sp["maxReplicas"]
        if tgt is not None:
            scaled.setdefault(app_name(tgt), []).append(f"HPA {h['metadata']['name']}")
        check(good, f"{label}: HorizontalPodAutoscaler {h['metadata']['name']} scales "
                    f"{ref.get('kind')} {ref.get('name')} ({sp.get('minReplicas', 1)}.."
                    f"{sp['maxReplicas']})", "target missing or min > max")
    for so in (o for o in objs if o["kind"] == "ScaledObject"):
        tgt = find(objs, (so["spec"].get("scaleTargetRef") or {}).get("kind", "Deployment"),
                   (so["spec"].get("scaleTargetRef") or {}).get("name"))
        if tgt is not None:
            scaled.setdefault(app_name(tgt), []).append(f"ScaledObject {so['metadata']['name']}")
    for app in ("campaign-svc", "dispatch-worker"):
        check(len(scaled.get(app, [])) == 1, f"{label}: {app} has exactly one autoscaler "
              f"({', '.join(scaled.get(app, [])) or 'none'})")
    has_keda = any(o["kind"] == "ScaledObject" for o in objs)
    check(has_keda == expect_keda, f"{label}: KEDA ScaledObject "
          f"{'present' if expect_keda else 'absent'} as intended")
    if namespace:
        wrong = [f"{o['kind']}/{o['metadata']['name']}" for o in objs
                 if o["kind"] not in CLUSTER_SCOPED
                 and o["metadata"].get("namespace") != namespace]
        check(not wrong, f"{label}: every namespaced object is in namespace {namespace}",
              ", ".join(wrong))
    else:
        placed = [f"{o['kind']}/{o['metadata']['name']}" for o in objs
                  if o["metadata"].get("namespace")]
        check(not placed, f"{label}: namespace-agnostic (no metadata.namespace)",
              ", ".join(placed))


def render_and_check(label, d, expect_keda=True):
    kf = kustomization_file(d)
    k = yaml.safe_load(open(kf)) if kf else {}
    try:
        objs = render(d)
    except Exception as e:  # noqa: BLE001 - report any rendering failure
        section(label)
        fail(f"{label}: renders with {renderer}: {e}")
        return None
    check_set(label, objs, namespace=(k or {}).get("namespace"), expect_keda=expect_keda)
    return objs


# ------------------------------------------------------------------------------------------
# Kubernetes
# ------------------------------------------------------------------------------------------
base = os.path.join(K8S, "base")
alternatives = os.path.join(K8S, "alternatives")
overlays_dir = os.path.join(K8S, "overlays")
overlays = sorted(os.path.join(overlays_dir, x) for x in os.listdir(overlays_dir)
                  if kustomization_file(os.path.join(overlays_dir, x))) \
    if os.path.isdir(overlays_dir) else []

section("kustomization files")
check(os.path.isdir(base), f"{rel(base)}/ exists")
check(overlays, f"{rel(overlays_dir)}/ has at least one overlay",
      "no overlay with a kustomization file")
seen = set()
for d in [base] + overlays + ([alternatives] if os.path.isdir(alternatives) else []):
    check_kustomization_tree(d, seen)

base_k = yaml.safe_load(open(kustomization_file(base))) or {} if kustomization_file(base) else {}
check(not base_k.get("namespace"), f"{rel(base)}: kustomization sets no namespace")
listed = " ".join(str(x) for x in (base_k.get("resources") or []) + (base_k.get("components") or []))
check("alternatives" not in listed and "worker-hpa" not in listed,
      f"{rel(base)}: the worker-HPA alternative is not part of the base")

render_and_check("base", base)
for ov in overlays:
    render_and_check(f"overlay {os.path.basename(ov)}", ov)

if os.path.isdir(alternatives):
    section("alternatives (for clusters without KEDA)")
    alt_hpa = os.path.join(alternatives, "worker-hpa.yaml")
    check(os.path.isfile(alt_hpa), f"{rel(alt_hpa)} exists")
    if os.path.isfile(alt_hpa):
        text = open(alt_hpa).read()
        check("KEDA" in text and "instead" in text,
              f"{rel(alt_hpa)} explains using it instead of KEDA")
    if kustomization_file(alternatives):
        # base + the component, as an overlay would use it (a throw-away kustomization)
        tmp = tempfile.mkdtemp(prefix="validate-alt-")
        try:
            with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
                yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                "kind": "Kustomization",
                                "resources": [os.path.relpath(base, tmp)],
                                "components": [os.path.relpath(alternatives, tmp)]}, f)
            render_and_check("base + alternatives (plain HPA, no KEDA)", tmp, expect_keda=False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

# ------------------------------------------------------------------------------------------
# docker-compose.yml
# ------------------------------------------------------------------------------------------
section("docker-compose.yml")
dockerfile = os.path.join(ROOT, "Dockerfile")
stages = []
if os.path.isfile(dockerfile):
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", open(dockerfile).read(), re.M | re.I)
compose_path = os.path.join(DEPLOY, "docker-compose.yml")
compose = None
try:
    compose = yaml.safe_load(open(compose_path))
    ok(f"{rel(compose_path)} parses (PyYAML)")
except Exception as e:  # noqa: BLE001
    fail(f"{rel(compose_path)} parses: {e}")
def has_healthcheck(svc):
    hc = (svc or {}).get("healthcheck") or {}
    return bool(hc.get("test")) and not hc.get("disable")


if isinstance(compose, dict):
    services = compose.get("services") or {}
    for s in ("postgres", "rabbitmq", "campaign-svc", "dispatch-worker"):
        check(s in services, f"service {s} defined")
    img = lambda s: str((services.get(s) or {}).get("image", ""))  # noqa: E731
    check(img("postgres").startswith("postgres:15"), "postgres image is postgres:15",
          img("postgres"))
    check(re.match(r"rabbitmq:3(\.\d+)*-management$", img("rabbitmq")),
          "rabbitmq image is rabbitmq:3.x-management", img("rabbitmq"))
    for s in ("campaign-svc", "dispatch-worker"):
        svc = services.get(s) or {}
        b = svc.get("build") or {}
        ctx = os.path.normpath(os.path.join(DEPLOY, b.get("context", ".")))
        df = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
        check(os.path.isfile(df), f"{s}: build context {rel(ctx) or '.'} has {b.get('dockerfile', 'Dockerfile')}")
        check(b.get("target") == s and s in stages, f"{s}: built from Dockerfile target {s}",
              f"target {b.get('target')}, Dockerfile stages {stages}")
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(x.split("=", 1) if "=" in x else (x, None) for x in env)
        need = ["DATABASE_URL", "AMQP_URL"] + (["API_TOKENS"] if s == "campaign-svc" else [])
        check(all(env.get(v) for v in need), f"{s}: sets {', '.join(need)}",
              f"has {sorted(env)}")
        hosts = re.findall(r"@([a-z0-9-]+):", f"{env.get('DATABASE_URL')} {env.get('AMQP_URL')}")
        check(hosts and all(h in services for h in hosts),
              f"{s}: DATABASE_URL/AMQP_URL point at compose services ({', '.join(hosts)})")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        probs = []
        for dep, cond in deps.items():
            if dep not in services:
                probs.append(f"{dep} is not a service")
            elif (cond or {}).get("condition") == "service_healthy" and \
                    not has_healthcheck(services[dep]):
                probs.append(f"{dep} has no healthcheck for service_healthy")
        healthy = sorted(d for d, c in deps.items() if (c or {}).get("condition") == "service_healthy")
        check(not probs and {"postgres", "rabbitmq"} <= set(healthy),
              f"{s}: depends_on postgres and rabbitmq with condition service_healthy",
              "; ".join(probs) or f"healthy deps: {healthy}")
    cports = [str(p) for p in (services.get("campaign-svc") or {}).get("ports") or []]
    check(any(p.endswith("8080:8080") for p in cports) and
          any(p.endswith("50051:50051") for p in cports),
          "campaign-svc publishes 8080 and 50051", str(cports))
    reps = ((services.get("dispatch-worker") or {}).get("deploy") or {}).get("replicas")
    check(reps == 2, "dispatch-worker: deploy.replicas is 2", f"replicas {reps}")
    for s in ("postgres", "rabbitmq"):
        check(has_healthcheck(services.get(s)), f"{s}: has a healthcheck")
    for s in ("campaign-svc", "dispatch-worker"):
        check((services.get(s) or {}).get("stop_grace_period"),
              f"{s}: stop_grace_period set ({(services.get(s) or {}).get('stop_grace_period')})")

# ------------------------------------------------------------------------------------------
# Dockerfile
# ------------------------------------------------------------------------------------------
section("Dockerfile")
if check(os.path.isfile(dockerfile), "Dockerfile exists at the repository root"):
    text = open(dockerfile).read()
    check(re.search(r"cargo build --release --locked", text),
          "builder runs cargo build --release --locked")
    blocks = re.split(r"^(?=FROM\s)", text, flags=re.M)
    for target, ports in (("campaign-svc", {"8080", "50051"}), ("dispatch-worker", {"9091"})):
        blk = next((b for b in blocks
                    if re.match(rf"FROM\s+\S+\s+AS\s+{re.escape(target)}\s*$", b.splitlines()[0], re.I)),
                   None)
        if not check(blk, f"target {target} exists"):
            continue
        user = re.findall(r"^USER\s+(\S+)", blk, re.M)
        uid = user[-1].split(":")[0] if user else ""
        check(uid.isdigit() and int(uid) != 0, f"{target}: runs as a numeric non-root user ({uid})")
        exposed = set(" ".join(re.findall(r"^EXPOSE\s+(.+)$", blk, re.M)).split())
        check(ports <= exposed, f"{target}: EXPOSE {' '.join(sorted(ports))}", f"has {exposed}")
        check(re.search(rf'^ENTRYPOINT\s+\[".*/{re.escape(target)}"\]', blk, re.M),
              f"{target}: ENTRYPOINT is the {target} binary")
        copies = re.findall(r"^COPY\s+--from=\S+.*$", blk, re.M)
        binary = [c for c in copies if re.match(r"COPY\s+--from=builder\s", c) and target in c]
        # campaign-svc also serves the built web console (the console stage's dist/, nothing else).
        console = [c for c in copies if re.match(r"COPY\s+--from=console\s+/console/dist\s", c)]
        wanted = 2 if target == "campaign-svc" else 1
        check(len(binary) == 1 and len(copies) == wanted and len(binary) + len(console) == wanted,
              f"{target}: copies only its binary" + (" and the built console" if wanted == 2 else ""),
              f"{copies}")
        if target == "campaign-svc":
            check(re.search(r"^ENV\s+CONSOLE_DIR=\S+", blk, re.M),
                  "campaign-svc: CONSOLE_DIR names the console it copied")
    di = os.path.join(ROOT, ".dockerignore")
    if check(os.path.isfile(di), ".dockerignore exists"):
        entries = {line.strip().rstrip("/") for line in open(di)}
        check({"target", ".git"} <= entries, ".dockerignore excludes target/ and .git/")

print()
print(f"deploy validation: {PASSED} passed, {FAILED} failed")
sys.exit(1 if FAILED else 0)
PYEOF
