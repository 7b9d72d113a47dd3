"""Does the ONNX Runtime version explain a gap between the embedding bench's raw sessions? The bench's Node side runs
onnxruntime-node 1.30.0 (the project's; npm's newest is 1.31.1) and its Python side onnxruntime from
tools/python/requirements.txt (1.32.0); this runs the raw image session from Python with both versions, on the
bench's model and a pre-made [32, 3, 224, 224] tensor, with the service's session options (python_peer.session),
in both thread layouts the bench uses: 2x1 (two processes, one intra-op thread each, as the service's two inference
workers) and 1x2 (one session, two intra-op threads, spinning on). Contenders interleave, the order rotating over
repeats; ratios are paired per repeat (installed / other, images per second).

The other version is installed with pip into tools/bench/.cache/embedding/ort-<version>/ (PyPI) and put first on
PYTHONPATH for its runs.

  .work/py/bin/python tools/bench/embedding/ort_versions.py [--other 1.30.0] [--images 192] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CACHE = HERE.parent / ".cache" / "embedding"


def child(layout: str, images: int) -> None:
    """One timed run in this process (and its workers): prints a JSON line."""
    import multiprocessing as mp

    import numpy as np
    import onnxruntime as ort

    sys.path.insert(0, str(HERE))
    from python_peer import MODEL, session  # the service's session options

    path = MODEL / "onnx" / "vision_model.onnx"
    x = (np.sin(np.arange(32 * 3 * 224 * 224, dtype=np.float32)) * 1.5).reshape(32, 3, 224, 224)

    def work(threads: int, batches: int, q) -> None:
        s = session(path, threads, True)
        name = s.get_inputs()[0].name
        s.run(None, {name: x[:2]})
        q.put("ready")
        t, c = time.perf_counter(), time.process_time()
        for _ in range(batches):
            s.run(None, {name: x})
        q.put((time.perf_counter() - t, time.process_time() - c))

    procs, threads = (2, 1) if layout == "2x1" else (1, 2)
    per = images // procs // 32
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    ps = [ctx.Process(target=work, args=(threads, per, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    got = [q.get() for _ in range(2 * procs)]
    for p in ps:
        p.join()
    timings = [g for g in got if g != "ready"]
    n = per * 32 * procs
    wall = max(t for t, _ in timings)
    cpu = sum(c for _, c in timings)
    print(json.dumps({"version": ort.__version__, "layout": layout, "images": n, "seconds": wall, "imagesPerSecond": n / wall, "cpuMsPerImage": 1000 * cpu / n}))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--other", default="1.30.0")
    ap.add_argument("--images", type=int, default=192, help="images per run (whole batches of 32 per process)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--name", default="embedding-ort-versions")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.images)
        return

    import onnxruntime as ort

    installed = ort.__version__
    target = CACHE / f"ort-{args.other}"
    if not (target / "onnxruntime" / "__init__.py").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), f"onnxruntime=={args.other}"], check=True)
    env_other = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env_other.pop(k, None)
    env_installed = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    contenders = {
        f"{installed}-2x1": ("2x1", env_installed),
        f"{args.other}-2x1": ("2x1", env_other),
        f"{installed}-1x2": ("1x2", env_installed),
        f"{args.other}-1x2": ("1x2", env_other),
    }
    before = uptime()
    runs: dict[str, list[dict]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(args.repeats):
        for i in range(len(names)):
            name = names[(i + r) % len(names)]
            layout, env = contenders[name]
            out = subprocess.run([sys.executable, __file__, "--child", layout, "--images", str(args.images)], env=env, capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            expected = name.split("-")[0]
            if res["version"] != expected:
                raise SystemExit(f"{name} ran onnxruntime {res['version']}")
            runs[name].append(res)
            print(f"[ort-versions] repeat {r + 1}/{args.repeats} {name}: {res['imagesPerSecond']:.2f} images/s, {res['cpuMsPerImage']:.1f} CPU ms/image", file=sys.stderr, flush=True)

    def med(xs: list[float]) -> float:
        s = sorted(xs)
        return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2

    ratios = {}
    for layout in ("2x1", "1x2"):
        a = [x["imagesPerSecond"] for x in runs[f"{installed}-{layout}"]]
        b = [x["imagesPerSecond"] for x in runs[f"{args.other}-{layout}"]]
        per = [x / y for x, y in zip(a, b)]
        ratios[f"{installed}vs{args.other}-{layout}"] = {"perRepeat": per, "median": med(per), "min": min(per), "max": max(per)}
        print(f"{layout}: onnxruntime {installed} / {args.other} per repeat {', '.join(f'{x:.3f}' for x in per)} (median {med(per):.3f})")
    result = {
        "benchmark": "embedding-ort-versions",
        "what": "raw image session images/s from Python, onnxruntime installed vs --other, layouts 2x1 and 1x2, the service's session options",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": "python tools/bench/embedding/ort_versions.py " + " ".join(sys.argv[1:]),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "uptimeBefore": before,
        "uptimeAfter": uptime(),
        "model": "tools/bench/.cache/embedding clip-vit-b32 vision_model.onnx (ViT-B/32 architecture, random weights)",
        "imagesPerRun": args.images,
        "runs": runs,
        "ratios": ratios,
    }
    out = ROOT / "tools" / "bench" / "results" / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
