"""The peer: optimum's ORTStableDiffusionPipeline on the same export, same scheduler and size.

    python bench_optimum.py MODEL_DIR WIDTH HEIGHT STEPS THREADS [WARMUP]   -> one JSON line
"""

import json
import os
import resource
import statistics
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"

import onnxruntime as ort  # noqa: E402
from diffusers import UniPCMultistepScheduler  # noqa: E402
from optimum.onnxruntime import ORTStableDiffusionPipeline  # noqa: E402

model_dir, width, height, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 1
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # same session settings as ours
pipe = ORTStableDiffusionPipeline.from_pretrained(model_dir, session_options=options)
pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config)
pipe.set_progress_bar_config(disable=True)
kwargs = dict(prompt="A photo of a tench", width=width, height=height, guidance_scale=7.5, output_type="pil")
for _ in range(warmup):  # warm-up: whole generations, as many as every contender gets
    pipe(num_inference_steps=steps, **kwargs)

marks = []


def on_step(_pipe, _i, _t, tensors):
    marks.append(time.perf_counter())
    return tensors


t0 = time.perf_counter()
image = pipe(num_inference_steps=steps, callback_on_step_end=on_step, **kwargs).images[0]
whole = time.perf_counter() - t0
image.save(os.devnull, format="PNG")  # the TypeScript side encodes a PNG too
whole = time.perf_counter() - t0
step_times = [(b - a) * 1000 for a, b in zip(marks, marks[1:])]
step_ms = statistics.median(step_times) if step_times else (marks[0] - t0) * 1000
print(json.dumps({
    "stepMs": step_ms,
    "stepMeanMs": statistics.mean(step_times) if step_times else step_ms,
    "stepsMs": step_times,
    "wholeMs": whole * 1000,
    "headMs": (marks[0] - t0) * 1000 - step_ms,
    "tailMs": (t0 + whole - marks[-1]) * 1000,
    "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
