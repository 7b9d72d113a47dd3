"""The Python side of tools/bench/embedding/bench.ts: what a Python user would write for the same job, on the same
model, JPEGs and captions, with onnxruntime configured exactly as the embedding service configures its sessions
(packages/inference/src/session-options.ts: intra-op threads = cores, inter-op threads 1, sequential executor,
graph optimisation level "all"; intra-op spinning as the service's (--spinning), and the other way for the
images-pool-alt contender and the raw-session contender that asks for it).

One long-lived process: it loads the inputs and opens the sessions once, then runs one contender per command
read from stdin and prints one JSON line per command (seconds, images or texts, CPU seconds), so that bench.ts
can interleave it with the Node contenders over repeats. Every contender runs one untimed batch first.

Commands:
  images-pool     a prefetching pool of preprocessing worker processes feeding batches of 32 to the session
                  while it runs the previous batch (--pool dataloader: torch.utils.data.DataLoader with
                  num_workers and prefetch_factor; --pool mp: multiprocessing.Pool.imap with chunks)
  images-serial   preprocess a batch, run it, next batch (no overlap)
  images-pool-alt the same pool with the session's spinning the other way (the best Python pool counts)
  images-procs    data-parallel processes (--procs, spawned once, outside the timing): each opens its own session
                  with threads // procs intra-op threads (spinning as the service's) and embeds whole batches of 32
                  (decode, run, normalise); multiprocessing.Pool.imap over the batches, in order
  raw-spin        the session alone on a pre-made [32, 3, 224, 224] tensor, spinning on (ONNX Runtime's default)
  raw-nospin      the same, spinning off
  texts           transformers' fast CLIP tokenizer, batches of 32 padded to their longest text, text session;
                  the captions --text-passes times over (the vectors written are the last pass's)
  quit

Preprocessing is CLIP's (transformers' CLIPImageProcessor with resample=3): shortest side to 224 with Pillow's
bicubic, center crop 224x224, rescale 1/255, normalise with CLIP's mean and std. At start-up the peer checks its
function against CLIPImageProcessorPil on the first images and reports the largest difference.

  .work/py/bin/python tools/bench/embedding/python_peer.py --threads 2 --workers 2 --images 64 < commands
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "embedding"
MODEL = CACHE / "models" / "clip-vit-b32"
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

BLOBS: list[bytes] = []  # the JPEGs, in memory before any worker forks (the Node side holds them in memory too)


def preprocess(data: bytes) -> np.ndarray:
    """CLIP's preprocessing with Pillow: [3, 224, 224] float32."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    # transformers' get_resize_output_image_size: the short side to 224, the long side int(224 * long / short)
    nw, nh = (224, int(224 * h / w)) if w <= h else (int(224 * w / h), 224)
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - 224) // 2, (nh - 224) // 2
    im = im.crop((left, top, left + 224, top + 224))
    a = (np.asarray(im, dtype=np.float32) * np.float32(1 / 255) - MEAN) / STD
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def preprocess_index(i: int) -> np.ndarray:
    return preprocess(BLOBS[i])


def session(path: Path, threads: int, spinning: bool) -> ort.InferenceSession:
    """The embedding service's session options (ortSessionOptions in @select/inference)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


PROC_SESSION: ort.InferenceSession | None = None


def proc_init(files: list[str], threads: int, spinning: bool, batch: int, ready) -> None:
    """An images-procs worker: the JPEGs in memory, its own session, one untimed batch, then ready."""
    global PROC_SESSION
    BLOBS.extend(Path(f).read_bytes() for f in files)
    PROC_SESSION = session(MODEL / "onnx" / "vision_model.onnx", threads, spinning)
    PROC_SESSION.run(["image_embeds"], {"pixel_values": np.stack([preprocess(x) for x in BLOBS[:batch]])})
    ready.wait()


def proc_embed(span: tuple[int, int]) -> np.ndarray:
    batch = np.stack([preprocess(x) for x in BLOBS[span[0] : span[1]]])
    return normalised(PROC_SESSION.run(["image_embeds"], {"pixel_values": batch})[0])


def live_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of live processes (a persistent pool's workers are not reaped while it runs)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children (the pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def normalised(out: np.ndarray) -> np.ndarray:
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class Peer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.b = args.batch
        files = sorted((CACHE / "jpegs").glob("*.jpg"))[: args.images]
        self.files = [str(f) for f in files]
        self.procs = None
        BLOBS.extend(f.read_bytes() for f in files)
        self.n = len(BLOBS)
        self.vision_nospin = session(MODEL / "onnx" / "vision_model.onnx", args.threads, False)
        self.vision_spin = session(MODEL / "onnx" / "vision_model.onnx", args.threads, True)
        # the image pipelines' session: spinning as the service's; images-pool-alt takes the other one
        self.vision = self.vision_spin if args.spinning == "on" else self.vision_nospin
        self.vision_alt = self.vision_nospin if args.spinning == "on" else self.vision_spin
        self.text = session(MODEL / "onnx" / "text_model.onnx", args.threads, args.spinning == "on")
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(MODEL, use_fast=True)
        self.texts = json.loads((CACHE / "texts.json").read_text())[: args.images]
        self.text_passes = args.text_passes
        self.first = np.stack([preprocess(x) for x in BLOBS[: self.b]])
        self.vectors_out = Path(args.vectors) if args.vectors else None

    def info(self) -> dict:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
        import transformers

        hf = CLIPImageProcessorPil.from_pretrained(MODEL)
        diff = 0.0
        for x in BLOBS[:4]:
            ref = np.asarray(hf(Image.open(io.BytesIO(x)).convert("RGB"), return_tensors="np")["pixel_values"][0])
            diff = max(diff, float(np.abs(ref - preprocess(x)).max()))
        import torch

        return {
            "images": self.n,
            "texts": len(self.texts),
            "tokenizer": type(self.tok).__name__,
            "tokenizerIsFast": bool(self.tok.is_fast),
            "preprocessMaxAbsDiffVsCLIPImageProcessorPil": diff,
            "pool": self.args.pool,
            "workers": self.args.workers,
            "prefetch": self.args.prefetch,
            "chunk": self.args.chunk,
            "procs": self.args.procs,
            "sessionOptions": {"intraOpThreads": self.args.threads, "interOpThreads": 1, "executionMode": "sequential", "graphOptimizationLevel": "all", "allowSpinning": self.args.spinning == "on"},
            "versions": {"python": sys.version.split()[0], "onnxruntime": ort.__version__, "pillow": Image.__version__, "numpy": np.__version__, "torch": torch.__version__, "transformers": transformers.__version__},
        }

    def _write(self, name: str, rows: list[np.ndarray]) -> None:
        if self.vectors_out is not None:
            self.vectors_out.mkdir(parents=True, exist_ok=True)
            np.concatenate(rows).astype(np.float32).tofile(self.vectors_out / name)

    def _timed(self, run, sess=None) -> dict:
        (sess or self.vision).run(["image_embeds"], {"pixel_values": self.first})  # untimed batch
        c0, t0 = cpu_seconds(), time.perf_counter()
        extra = run() or {}
        return {"seconds": time.perf_counter() - t0, "cpuSeconds": cpu_seconds() - c0, "images": self.n, **extra}

    def images_serial(self) -> dict:
        def run():
            rows = []
            for i in range(0, self.n, self.b):
                batch = np.stack([preprocess(x) for x in BLOBS[i : i + self.b]])
                rows.append(normalised(self.vision.run(["image_embeds"], {"pixel_values": batch})[0]))
            self._rows = rows

        out = self._timed(run)
        self._write("images-serial.f32", self._rows)
        return out

    def images_pool(self, alt: bool = False) -> dict:
        a = self.args
        sess = self.vision_alt if alt else self.vision
        if a.pool == "dataloader":
            from torch.utils.data import DataLoader, Dataset

            class Jpegs(Dataset):
                def __len__(self) -> int:
                    return len(BLOBS)

                def __getitem__(self, i: int) -> np.ndarray:
                    return preprocess(BLOBS[i])

            def run():
                rows = []
                # a user's loader: in order, batches of 32 collated in the workers, prefetch_factor batches ahead
                loader = DataLoader(Jpegs(), batch_size=self.b, num_workers=a.workers, prefetch_factor=a.prefetch)
                for batch in loader:
                    rows.append(normalised(sess.run(["image_embeds"], {"pixel_values": batch.numpy()})[0]))
                self._rows = rows

        else:

            def run():
                rows = []
                with mp.get_context("fork").Pool(a.workers) as pool:
                    pending: list[np.ndarray] = []
                    for t in pool.imap(preprocess_index, range(self.n), chunksize=a.chunk):
                        pending.append(t)
                        if len(pending) == self.b:
                            rows.append(normalised(sess.run(["image_embeds"], {"pixel_values": np.stack(pending)})[0]))
                            pending = []
                    if pending:
                        rows.append(normalised(sess.run(["image_embeds"], {"pixel_values": np.stack(pending)})[0]))
                self._rows = rows

        out = self._timed(run, sess)
        if not alt:
            self._write("images-pool.f32", self._rows)
        return out

    def images_procs(self) -> dict:
        a = self.args
        if self.procs is None:
            # spawned, not forked: this process holds ONNX Runtime sessions with their thread pools
            ctx = mp.get_context("spawn")
            ready = ctx.Barrier(a.procs + 1)
            threads = max(1, a.threads // a.procs)
            self.procs = ctx.Pool(a.procs, initializer=proc_init, initargs=(self.files, threads, a.spinning == "on", self.b, ready))
            ready.wait()  # every worker has its session and has run its untimed batch
        pids = [p.pid for p in self.procs._pool]
        spans = [(i, min(i + self.b, self.n)) for i in range(0, self.n, self.b)]
        c0, k0, t0 = cpu_seconds(), live_cpu_seconds(pids), time.perf_counter()
        rows = list(self.procs.imap(proc_embed, spans))
        seconds = time.perf_counter() - t0
        cpu = cpu_seconds() - c0 + live_cpu_seconds(pids) - k0
        self._write("images-procs.f32", rows)
        return {"seconds": seconds, "cpuSeconds": cpu, "images": self.n}

    def raw(self, spinning: bool) -> dict:
        sess = self.vision_spin if spinning else self.vision_nospin
        sess.run(["image_embeds"], {"pixel_values": self.first})  # untimed batch on this session
        last = self.n % self.b
        tail = self.first[:last] if last else None
        c0, t0 = cpu_seconds(), time.perf_counter()
        for _ in range(self.n // self.b):
            sess.run(["image_embeds"], {"pixel_values": self.first})
        if tail is not None:
            sess.run(["image_embeds"], {"pixel_values": tail})
        return {"seconds": time.perf_counter() - t0, "cpuSeconds": cpu_seconds() - c0, "images": self.n}

    def texts_run(self) -> dict:
        b = self.b

        def enc(batch):
            e = self.tok(batch, padding=True, truncation=True, max_length=77, return_tensors="np")
            return {"input_ids": e["input_ids"].astype(np.int64), "attention_mask": e["attention_mask"].astype(np.int64)}

        self.text.run(["text_embeds"], enc(self.texts[:b]))  # untimed batch
        c0, t0 = cpu_seconds(), time.perf_counter()
        for _ in range(self.text_passes):  # the captions text_passes times over, as the service's timed run
            rows = []
            for i in range(0, len(self.texts), b):
                rows.append(normalised(self.text.run(["text_embeds"], enc(self.texts[i : i + b]))[0]))
        out = {"seconds": time.perf_counter() - t0, "cpuSeconds": cpu_seconds() - c0, "texts": len(self.texts) * self.text_passes}
        self._write("texts.f32", rows)
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--text-passes", type=int, default=1, help="times a texts run goes through the captions")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="preprocessing worker processes of the pool")
    ap.add_argument("--pool", choices=["dataloader", "mp"], default="dataloader")
    ap.add_argument("--prefetch", type=int, default=2, help="DataLoader prefetch_factor (batches per worker)")
    ap.add_argument("--chunk", type=int, default=8, help="multiprocessing imap chunksize (images)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--spinning", choices=["on", "off"], default="off", help="intra-op spinning of the image pipelines' and the text session")
    ap.add_argument("--procs", type=int, default=os.cpu_count(), help="images-procs: data-parallel worker processes, each with its own session")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--vectors", default="", help="directory to write each contender's vectors to (float32 rows)")
    args = ap.parse_args()
    peer = Peer(args)
    commands = {
        "info": peer.info,
        "images-pool": peer.images_pool,
        "images-pool-alt": lambda: peer.images_pool(True),
        "images-serial": peer.images_serial,
        "images-procs": peer.images_procs,
        "raw-spin": lambda: peer.raw(True),
        "raw-nospin": lambda: peer.raw(False),
        "texts": peer.texts_run,
    }
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit" or not cmd:
            break
        print(json.dumps({"command": cmd, **commands[cmd]()}), flush=True)
    if peer.procs is not None:
        peer.procs.terminate()
        peer.procs.join()


if __name__ == "__main__":
    main()
