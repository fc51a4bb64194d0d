"""``phylo-llm place`` and ``phylo-llm build-atlas`` (registered through the ``phylo_llm.commands``
entry point; torch is imported only when a model or the embedder loads)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .extract import positive_int

EPILOG = """\
examples:
  phylo-llm place smollm2-135m gemma3-270m --atlas rand-zh --jobs 2 -o placed/
  phylo-llm place path/to/model_dir model.gguf --atlas rand-zh -o placed/
  phylo-llm place --responses answers.jsonl --settings '{"chat_template": false, "decoding": "greedy"}' --atlas rand-zh -o placed/

MODEL is run on the atlas's probes with the atlas's generation settings (for rand-zh: raw prompt,
no chat template, greedy). Recorded answers (--responses, one {"model", "responses"} JSON line per
model, in the atlas's probe order) must declare the settings they were generated with.
"""


def register_place(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "place",
        help="place models among the real LLMs of an atlas: nearest models, family, confidence",
        description="Run each model on an atlas's probes with the atlas's settings, make its DNA "
        "with the atlas's recipe, and report its nearest atlas models, the inferred family with a "
        "calibrated confidence, and a neighbourhood figure. Writes placement.json, placement.md, "
        "dna.json and <model>-neighbourhood.png under -o.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="*", metavar="MODEL", help="models to place (as for extract)")
    p.add_argument(
        "--atlas", default="rand-zh", help="atlas name (phylo-llm atlas list) or .npz file (default rand-zh)"
    )
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="output folder (default: print only)")
    p.add_argument("--responses", type=Path, metavar="FILE", help="recorded answers instead of MODELs")
    p.add_argument("--settings", metavar="JSON", help="generation settings of the --responses answers")
    p.add_argument("-k", type=positive_int, default=10, help="neighbours to report (default 10)")
    p.add_argument(
        "--max-new-tokens", type=positive_int, help="new tokens per answer (default: enough for the embedder's window)"
    )
    p.add_argument("--threads", type=positive_int, help="CPU threads for models and embedder")
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="models answering at once, each in its own process with threads/jobs threads and its own "
        "copy of the model in memory (default 1)",
    )
    p.add_argument("--batch-size", type=positive_int, help="prompts per generation batch")
    p.add_argument("--cache-dir", type=Path, help="response/embedding cache (default ~/.cache/phylo_llm)")
    p.add_argument("--no-figures", action="store_true", help="skip the neighbourhood figures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_place)


def _recorded(path: Path, atlas_name: str) -> list:
    from phylo_llm.atlas import load_atlas

    from ..backends.recorded import load_recorded
    from ..probes import ProbeSet

    a = load_atlas(atlas_name)
    return load_recorded(path, ProbeSet(a.prompts, name=a.name))


def run_place(args: argparse.Namespace) -> int:
    from phylo_llm.atlas import load_atlas

    from ..atlas.place import parent_note, place_models

    if bool(args.model) == bool(args.responses):
        raise ValueError("give MODELs to run or --responses FILE, not both and not neither")
    settings = None
    if args.settings is not None:
        try:
            settings = json.loads(args.settings)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--settings must be a JSON object, got {args.settings!r} ({exc.msg})") from None
        if not isinstance(settings, dict):
            raise ValueError(f"--settings must be a JSON object, got {args.settings!r}")
    elif args.responses is not None:
        raise ValueError(
            "--responses needs --settings: the generation settings of the recorded answers "
            '(e.g. \'{"chat_template": false, "decoding": "greedy"}\' for rand-zh)'
        )
    models = args.model or _recorded(args.responses, args.atlas)
    from ..progress import TqdmProgress

    progress = None if args.quiet else TqdmProgress()
    _, placements = place_models(
        models,
        atlas=args.atlas,
        out_dir=args.output,
        k=args.k,
        settings=settings,
        max_new_tokens=args.max_new_tokens,
        threads=args.threads,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        progress=progress,
        figures=not args.no_figures,
        jobs=args.jobs,
    )
    atlas = load_atlas(args.atlas)
    for p in placements:
        verdict = (
            f"family {p.family} (confidence {p.confidence:.2f})"
            if p.sure
            else f"unsure (best guess {p.family}, confidence {p.confidence:.2f})"
        )
        print(f"{p.model}: {verdict}")
        if p.parent_candidates:
            note = parent_note(atlas, short=True, k=len(p.neighbours))
            print(f"  parent candidates: {', '.join(p.parent_candidates)}" + (f" ({note})" if note else ""))
        for n in p.neighbours:
            fam = (n.family or "?") + ("~" if n.family_source == "name" else "")
            print(f"  {n.rank:>3}  {n.distance:.4f}  {n.model}  [{fam}]")
    if args.output is not None:
        print(
            f"wrote {args.output}/placement.md, placement.json, dna.json"
            + ("" if args.no_figures else " and neighbourhood figures")
        )
    return 0


def register_build(sub: argparse._SubParsersAction) -> None:
    from ..atlas.build import COMPOSITES, SOURCES

    p = sub.add_parser(
        "build-atlas",
        help="build a bundled atlas from the shared reference data (long: cached, resumable)",
        description="Embed every recorded answer of a reference population (cached per chunk: "
        "an interrupted build resumes), fit its label-free statistics, and write the atlas "
        "(DNA, labels, exclusions, NJ tree, confidence calibration) into phylo_llm/atlas/bundled/.",
    )
    p.add_argument(
        "name",
        choices=sorted([*SOURCES, *COMPOSITES]),
        help="which atlas (a composite one is made from the bundled atlases it combines)",
    )
    p.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="reference data folder (default ../shared/data)"
    )
    p.add_argument("--probes", type=positive_int, help="probes to use (default: the atlas's)")
    p.add_argument("-o", "--output", type=Path, help="atlas file (default: the bundled location)")
    p.add_argument(
        "--embedder",
        metavar="NAME",
        help="embedder name or id (default: the atlas's own, e.g. char-ngram-1-3-d256-w256-v1 for "
        "rand-zh; all-MiniLM-L6-v2 for the bundled sentence embedder, all-mpnet-base-v2 once installed; "
        "a composite uses its parts')",
    )
    p.add_argument("--threads", type=positive_int, help="CPU threads for the embedder")
    p.add_argument("--cache-dir", type=Path, help="embedding cache (default ~/.cache/phylo_llm)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from ..atlas.build import build_atlas
    from ..embed import load_embedder
    from ..progress import TqdmProgress

    progress = None if args.quiet else TqdmProgress()
    embedder = None if args.embedder is None else load_embedder(args.embedder, threads=args.threads)
    a = build_atlas(
        args.name,
        data_dir=args.data,
        n_probes=args.probes,
        out=args.output,
        cache_dir=args.cache_dir,
        progress=progress,
        threads=args.threads,
        embedder=embedder,
    )
    print(
        f"atlas {a.name}: {len(a)} models ({len(a.excluded)} excluded), {len(a.prompts)} probes, "
        f"{a.dna.shape[1]} dims, sha256 {a.sha[:12]}"
    )
    return 0
