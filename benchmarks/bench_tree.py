"""Benchmark tree building: phylo_llm NJ/UPGMA against scikit-bio, SciPy, Biopython and, when
installed, the command-line tools quicktree, clearcut and PHYLIP neighbor.

Every timed run happens in a fresh subprocess that builds the same seeded data (random
``dims``-dimensional Gaussian points, Euclidean distances), so peak memory belongs to that run
alone: for in-process methods it is VmHWM (reset just before the call) minus the resident size
before the call, i.e. what the call itself added on top of the already loaded input; for
command-line tools it is the tool's whole maximum resident size (it reads its own input).
Numba compile time is excluded from the timings (a warm-up call first; the compiled code is
cached on disk) and reported once, measured with an empty cache. Peers and ours run in the
same invocation: on a shared machine only the ratios mean much.

    .venv/bin/python benchmarks/bench_tree.py [--sizes 305 3000 10000] [--repeats 3]

Runs that take longer than ``--slow`` seconds (default 60) are not repeated. Command-line tools
get a PHYLIP file written outside the timing; their time includes parsing it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name -> (task, largest n it runs at by default, None = any)
METHODS: dict[str, tuple[str, int | None]] = {
    "phylo_llm nj": ("nj", None),
    "phylo_llm nj (float32 matrix)": ("nj", None),
    "skbio nj": ("nj", None),
    "biopython nj": ("nj", 305),
    "quicktree nj": ("nj", None),
    "clearcut nj (exact, -N)": ("nj", None),
    "phylip neighbor nj": ("nj", 3000),
    "phylo_llm upgma": ("upgma", None),
    "skbio upgma": ("upgma", None),
    "scipy average linkage": ("upgma", None),
    "quicktree upgma": ("upgma", None),
    "phylip neighbor upgma": ("upgma", 3000),
}
EXTERNAL = {
    "quicktree nj": "quicktree",
    "quicktree upgma": "quicktree",
    "clearcut nj (exact, -N)": "clearcut",
    "phylip neighbor nj": "phylip",
    "phylip neighbor upgma": "phylip",
}
OURS = {"nj": "phylo_llm nj", "upgma": "phylo_llm upgma"}


# ---- child process: build data, run one method once -------------------------------------------


def _points(n: int, dims: int, seed: int):
    import numpy as np

    return np.random.default_rng(seed).standard_normal((n, dims))


def _reset_peak() -> None:
    # Hand freed heap pages back first, so a new allocation cannot hide in them.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _child(method: str, n: int, dims: int, seed: int) -> dict[str, float]:
    import numpy as np

    sys.path.insert(0, str(REPO))
    from phylo_llm import pairwise_distances

    x = _points(n, dims, seed)
    labels = [f"t{i}" for i in range(n)]
    dm = pairwise_distances(x, labels)
    del x
    run = _prepare(method, dm, np)
    _reset_peak()
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    run()
    elapsed = time.perf_counter() - t0
    # Memory the call itself needed on top of what was resident (input matrix included there).
    return {"seconds": elapsed, "peak_mb": _status_mb("VmHWM") - before}


def _prepare(method: str, dm, np):
    """A zero-argument callable doing only the timed work; set-up (conversion) happens here."""
    if method.startswith("phylo_llm"):
        from phylo_llm import DistanceMatrix
        from phylo_llm.tree import nj, upgma

        tiny = DistanceMatrix(
            ("a", "b", "c", "d"), np.array([[0, 1, 2, 3], [1, 0, 2, 3], [2, 2, 0, 3], [3, 3, 3, 0.0]])
        )
        if "float32" in method:
            dm = DistanceMatrix(dm.labels, dm.values.astype(np.float32))
            nj(DistanceMatrix(tiny.labels, tiny.values.astype(np.float32)))  # warm (compiled)
        fn = nj if method.endswith("nj") or "nj (" in method else upgma
        fn(tiny)
        return lambda: fn(dm)
    if method.startswith("skbio"):
        from skbio import DistanceMatrix as SkDM
        from skbio.tree import nj as sk_nj
        from skbio.tree import upgma as sk_upgma

        sk = SkDM(np.asarray(dm.values, dtype=float), dm.labels)
        fn = sk_nj if method == "skbio nj" else sk_upgma
        return lambda: fn(sk)
    if method == "scipy average linkage":
        from scipy.cluster.hierarchy import linkage
        from scipy.spatial.distance import squareform

        cond = squareform(np.asarray(dm.values), checks=False)
        return lambda: linkage(cond, method="average")
    if method == "biopython nj":
        from Bio.Phylo.TreeConstruction import DistanceMatrix as BioDM
        from Bio.Phylo.TreeConstruction import DistanceTreeConstructor

        v = dm.values
        lower = [[float(v[i, j]) for j in range(i + 1)] for i in range(len(dm))]
        bio = BioDM(list(dm.labels), lower)
        return lambda: DistanceTreeConstructor().nj(bio)
    raise ValueError(f"unknown in-process method {method!r}")


# ---- external tools ---------------------------------------------------------------------------


def _write_phylip(path: Path, n: int, dims: int, seed: int) -> None:
    sys.path.insert(0, str(REPO))
    from phylo_llm import pairwise_distances

    dm = pairwise_distances(_points(n, dims, seed), [f"t{i}" for i in range(n)])
    with path.open("w") as fh:
        fh.write(f"{n}\n")
        for lab, row in zip(dm.labels, dm.values):
            fh.write(lab.ljust(10) + " ".join(f"{v:.8f}" for v in row.tolist()) + "\n")


def _external(method: str, phy: Path, timeout: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        stdin = None
        if method.startswith("quicktree"):
            cmd = ["quicktree", "-in", "m", "-out", "t"]
            if method.endswith("upgma"):
                cmd.append("-upgma")
            cmd.append(str(phy))
        elif method.startswith("clearcut"):
            cmd = ["clearcut", "--distance", f"--in={phy}", f"--out={tmpdir / 'c.tre'}", "--neighbor", "--quiet"]
        else:  # PHYLIP neighbor reads ./infile and asks for options on stdin
            (tmpdir / "infile").symlink_to(phy)
            cmd = ["phylip", "neighbor"]
            stdin = "N\nY\n" if method.endswith("upgma") else "Y\n"
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=tmpdir, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            _, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"seconds": float("inf"), "peak_mb": float("nan")}
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err[-300:]}")
        return {"seconds": elapsed, "peak_mb": float("nan")}


def _run_external_measured(method: str, phy: Path, timeout: float) -> dict[str, float]:
    """Run the tool from a helper process so that RUSAGE_CHILDREN is this run's peak alone."""
    code = (
        "import json,resource,sys;sys.path.insert(0,%r);import bench_tree as b;"
        "r=b._external(%r,b.Path(%r),%r);"
        "r['peak_mb']=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024;"
        "print(json.dumps(r))"
    ) % (str(Path(__file__).parent), method, str(phy), timeout)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- parent -----------------------------------------------------------------------------------


def _run_child(method: str, n: int, dims: int, seed: int, timeout: float) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", method, "--sizes", str(n), "--dims", str(dims), "--seed", str(seed)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 120, check=True)
    except subprocess.TimeoutExpired:
        return {"seconds": float("inf"), "peak_mb": float("nan")}
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_seconds() -> float:
    """First-call time of nj and upgma with an empty numba cache, minus a warm call."""
    code = (
        "import time,sys;sys.path.insert(0,%r);import numpy as np;"
        "from phylo_llm import DistanceMatrix;from phylo_llm.tree import nj;"
        "dm=DistanceMatrix(tuple('abcde'),np.array([[0,5,9,9,8],[5,0,10,10,9],[9,10,0,8,7],"
        "[9,10,8,0,3],[8,9,7,3,0.]]));t=time.perf_counter();nj(dm);a=time.perf_counter()-t;"
        "t=time.perf_counter();nj(dm);b=time.perf_counter()-t;print(a-b)"
    ) % str(REPO)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[305, 3000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slow", type=float, default=60.0, help="do not repeat runs slower than this")
    ap.add_argument("--timeout", type=float, default=900.0, help="give up on one run after this")
    ap.add_argument("--methods", nargs="+", default=None, help="subset of methods to run")
    ap.add_argument("--no-limits", action="store_true", help="run Biopython/PHYLIP beyond their default size limits")
    ap.add_argument("--json", type=Path, default=None, help="also write raw results here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.child, args.sizes[0], args.dims, args.seed)))
        return 0

    methods = args.methods or list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    missing = sorted({EXTERNAL[m] for m in methods if m in EXTERNAL and not shutil.which(EXTERNAL[m])})
    if missing:
        print(f"# not installed, skipped: {', '.join(missing)}")
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(f"# numba compile time (nj, empty cache): {compile_seconds():.1f} s")
    results = []
    for n in args.sizes:
        phy = None
        for method in methods:
            task, limit = METHODS[method]
            if method in EXTERNAL and not shutil.which(EXTERNAL[method]):
                continue
            if limit is not None and n > limit and not args.no_limits:
                continue
            runs = []
            for _ in range(args.repeats):
                if method in EXTERNAL:
                    if phy is None:
                        phy = Path(tempfile.mkdtemp()) / f"d{n}.phy"
                        _write_phylip(phy, n, args.dims, args.seed)
                    r = _run_external_measured(method, phy, args.timeout)
                else:
                    r = _run_child(method, n, args.dims, args.seed, args.timeout)
                runs.append(r)
                if r["seconds"] > args.slow:
                    break
            secs = [r["seconds"] for r in runs]
            res = {
                "method": method,
                "task": task,
                "n": n,
                "runs": len(runs),
                "median_s": statistics.median(secs),
                "peak_mb": max(r["peak_mb"] for r in runs),
            }
            results.append(res)
            print(
                f"# {method:32s} n={n:<6d} {res['median_s']:9.3f} s  ({len(runs)} runs)  peak {res['peak_mb']:8.0f} MB",
                flush=True,
            )
        if phy is not None:
            shutil.rmtree(phy.parent, ignore_errors=True)

    print()
    print("| n | method | median s | runs | peak MB (added) | ours / peer |")
    print("|---:|---|---:|---:|---:|---:|")
    for res in results:
        ours = next((r for r in results if r["n"] == res["n"] and r["method"] == OURS[res["task"]]), None)
        ratio = ""
        if ours is not None and not res["method"].startswith("phylo_llm"):
            ratio = f"{ours['median_s'] / res['median_s']:.3f}"
        secs = "timeout" if res["median_s"] == float("inf") else f"{res['median_s']:.3f}"
        print(f"| {res['n']} | {res['method']} | {secs} | {res['runs']} | {res['peak_mb']:.0f} | {ratio} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
