"""``phylo-llm atlas``: list the bundled atlases, or describe one."""

from __future__ import annotations

import argparse
import json

from ..atlas import atlas_names, load_atlas


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "atlas",
        help="list the bundled atlases of real LLMs, or show what one holds",
        description="Atlases are reference populations of real LLMs' DNA shipped with the "
        "package; `phylo-llm place` puts a new model among them. `atlas list` names them, "
        "`atlas show NAME` prints counts, generation settings, label coverage and build hash.",
    )
    p.add_argument("action", choices=("list", "show"), help="list the atlases, or show one")
    p.add_argument("name", nargs="?", help="atlas name or .npz file (with show)")
    p.add_argument("--json", action="store_true", help="print show's summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.name is not None:
            raise ValueError(f"atlas list takes no name, got {args.name!r}")
        for name in atlas_names():
            a = load_atlas(name)
            print(f"{name:<10} {len(a):>5} models  {len(a.prompts):>3} probes  {a.description}")
        return 0
    if args.name is None:
        raise ValueError(f"atlas show needs a NAME, one of {list(atlas_names())}")
    s = load_atlas(args.name).summary()
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    lab = s["labels"]
    print(f"atlas {s['name']}: {s['description']}")
    print(f"  models      {s['models']} ({s['excluded']} recorded models excluded)")
    print(f"  probes      {s['probes']}; DNA {s['dims']} dims; embedder {s['embedder']}")
    print(f"  recipe      {s['recipe']}")
    print(f"  settings    {json.dumps(s['settings'])}")
    print(f"  must match  {json.dumps(s['match'])}")
    print(
        f"  labels      family curated {lab['family_curated']}, from name {lab['family_from_name']} "
        f"({lab.get('family_from_relative', 0)} of them a curated relative's), "
        f"none {lab['no_family']}; documented parent {lab['with_parent']}; release date {lab['with_release']}"
    )
    print(f"  groups      {json.dumps(s['groups'])}")
    cal = s["calibration"]
    if "loo_accuracy" in cal:
        par = cal.get("parents") or {}
        print(
            f"  placed      family right for {cal['loo_accuracy']:.0%} of {cal['n']} leave-one-out placements "
            "(every member with a family, curated or from its name)"
            + (
                f"; parent first candidate {par['first']:.0%}, among them {par['among']:.0%} ({par['n']})"
                if par.get("n")
                else ""
            )
        )
    print(f"  sha256      {s['sha256']}")
    print(f"  built by    {s['build'].get('command', '?')}")
    return 0
