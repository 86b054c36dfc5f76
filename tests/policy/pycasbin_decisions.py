"""Decides Switchyard's policies/ with pycasbin, the Python casbin implementation.

Usage: python3 pycasbin_decisions.py POLICY_DIR README [GENERATED]

Registers the reference `objMatch` (the first ```python block of policies/README.md, executed as
written) and prints one JSON line per request: every row of tests.csv (with its expected
decision), then GENERATED (default 300) requests made deterministically from the rules' own
subjects, object patterns, actions and every relation, with near misses (one segment more or
less, a lookalike segment, unknown subjects and actions). tests/e2e/policy_interop.rs compares
each decision with `switchyard policy explain`.
"""

import json
import os
import random
import re
import sys

import casbin


def reference_obj_match(readme_path):
    text = open(readme_path, encoding="utf-8").read()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    if not block:
        sys.exit(f"{readme_path}: no ```python block with the reference objMatch")
    scope = {}
    exec(block.group(1), scope)  # noqa: S102 - the documented reference, run as documented
    return scope["obj_match"]


def rules(policy_path):
    out = []
    for line in open(policy_path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append([c.strip() for c in line.split(",")])
    return out


def test_rows(tests_path):
    rows = []
    for n, line in enumerate(open(tests_path, encoding="utf-8"), 1):
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("subject"):
            continue
        sub, obj, act, rel, expected = [c.strip() for c in line.split(",")]
        rows.append({"line": n, "sub": sub, "obj": obj, "act": act, "rel": rel,
                     "expected": expected == "allow"})
    return rows


def generated(policy, count, seed=20261127):
    rnd = random.Random(seed)
    subjects = sorted({r[1] for r in policy if r[0] in ("p", "g")} | {r[2] for r in policy if r[0] == "g"})
    subjects += ["role:intern", "user:nobody", "flow", "role:", "ROLE:viewer"]
    patterns = sorted({r[2] for r in policy if r[0] == "p"})
    actions = sorted({r[3] for r in policy if r[0] == "p" and r[3] != "*"}) + ["launch", "*", "READ"]
    words = ["lead-capture", "lead-routing", "hubspot", "webhook", "personal", "sensitive", "hashed",
             "none", "ads", "crm", "warehouse", "log", "files", "x", "*", "**", "ünï"]

    def instantiate(pattern):
        segs = []
        for i, s in enumerate(pattern.split(":")):
            if s == "**" and i == len(pattern.split(":")) - 1:
                segs += [rnd.choice(words) for _ in range(rnd.randint(1, 3))]
            elif s == "*":
                segs.append(rnd.choice(words))
            else:
                segs.append(s)
        # Near misses: a segment more, a segment less, a lookalike segment.
        roll = rnd.random()
        if roll < 0.15:
            segs.append(rnd.choice(words))
        elif roll < 0.3 and len(segs) > 1:
            segs.pop()
        elif roll < 0.4:
            i = rnd.randrange(len(segs))
            segs[i] = segs[i] + "s"
        return ":".join(segs)

    p_rules = [r for r in policy if r[0] == "p"]
    members = {}
    for r in policy:
        if r[0] == "g":
            members.setdefault(r[2], []).append(r[1])
    out = []
    for _ in range(count):
        rel = rnd.choice(["own", "team", "other", "none"])
        if rnd.random() < 0.6:
            # Close to a rule: its subject (or a member of it), object pattern and action.
            _, sub, obj, act, _scope, _eft = rnd.choice(p_rules)
            sub = rnd.choice([sub] + members.get(sub, []))
            act = rnd.choice(actions) if act == "*" else act
            out.append({"sub": sub, "obj": instantiate(obj), "act": act, "rel": rel})
        else:
            out.append({"sub": rnd.choice(subjects), "obj": instantiate(rnd.choice(patterns)),
                        "act": rnd.choice(actions), "rel": rel})
    return out


def main():
    policy_dir, readme = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    enforcer = casbin.Enforcer(os.path.join(policy_dir, "model.conf"),
                               os.path.join(policy_dir, "policy.csv"))
    enforcer.add_function("objMatch", reference_obj_match(readme))
    policy = rules(os.path.join(policy_dir, "policy.csv"))
    requests = test_rows(os.path.join(policy_dir, "tests.csv")) + generated(policy, count)
    for req in requests:
        req["pycasbin"] = bool(enforcer.enforce(req["sub"], req["obj"], req["act"], req["rel"]))
        print(json.dumps(req, ensure_ascii=False))


if __name__ == "__main__":
    main()
