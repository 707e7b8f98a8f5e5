#!/usr/bin/env python
"""How long one `navstack train clip` step takes on this machine, and what 9000 steps would cost.

The training step of navstack.perception.clip_train (the shipped model's config, batch 128 at 64 px,
ClipLoss + the auxiliary category loss, AdamW) timed on random crops and captions - the arithmetic
does not depend on the pixels - in several set-ups, so a user can tell before spending an hour whether
the default recipe fits the 60-minute reproduction limit here, and which set-up is fastest on this CPU:

* eager or `torch.compile` (inductor; the trainer's default),
* fused or per-tensor AdamW (the trainer uses fused where torch has it),
* float32 or bfloat16 autocast (not used by the trainer; measured because AMX / AVX512-BF16 CPUs
  could gain from it).

    python benchmarks/bench_clip_step.py                     # all set-ups, 40 timed steps each
    python benchmarks/bench_clip_step.py --steps 100 --setups eager-fused,compiled-fused
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, write_json  # noqa: E402

SETUPS = ("eager-fused", "eager-loop", "compiled-fused", "eager-fused-bf16", "compiled-fused-bf16")
WARMUP = 5  # steps left out of the median (allocator warm-up; the compiled set-up compiles in its first)


def time_setup(setup: str, steps: int, batch: int, threads: int) -> dict:
    import numpy as np
    import open_clip
    import torch

    from navstack.perception.clip_train import (DEFAULT_MODEL_NAME, PREPROCESS_CFG, augment, config_document,
                                                make_optimizer, new_model, optimise, training_loss)

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_text(json.dumps(config_document(DEFAULT_MODEL_NAME)))
        model, tokenizer = new_model(DEFAULT_MODEL_NAME, 0, path)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    fwd = torch.compile(model) if setup.startswith("compiled") else model
    opt = make_optimizer(model, 1e-4, 0.1, fused="fused" in setup)
    loss_fn = open_clip.ClipLoss()
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    images = rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
    captions = tokenizer(["the large red wooden chair in the kitchen"] * batch)
    prompts = tokenizer([f"a photo of a thing number {i}" for i in range(20)])  # 17 categories + wall/floor/ceiling
    labels = torch.from_numpy(rng.integers(0, 20, batch))
    times = []
    for _ in range(WARMUP + steps):
        t0 = time.perf_counter()
        x = augment(images, gen, PREPROCESS_CFG["mean"], PREPROCESS_CFG["std"]).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setup.endswith("bf16")):
            outp = fwd(x, captions)
            outp = {k: v.float() for k, v in outp.items()}
            loss = training_loss(model, outp, loss_fn, prompts, labels, 0.5)
        optimise(model, opt, loss)
        times.append(time.perf_counter() - t0)
    ms = 1000 * float(np.median(times[WARMUP:]))
    return {"setup": setup, "step_ms_median": round(ms, 1), "first_step_s": round(times[0], 1),
            "fused_optimizer": bool(opt.defaults.get("fused")), "train_9000_steps_min": round(9000 * ms / 60000, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setups", default=",".join(SETUPS), help=f"comma-separated, of {', '.join(SETUPS)}")
    p.add_argument("--steps", type=int, default=40, help="timed steps per set-up (after the warm-up)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    bad = [s for s in setups if s not in SETUPS]
    if bad or not setups:
        p.error(f"unknown set-up(s) {bad}; choose from {', '.join(SETUPS)}")
    if args.steps < 1 or args.batch_size < 2 or args.threads < 1:
        p.error("need --steps >= 1, --batch-size >= 2, --threads >= 1")
    rows = []
    for s in setups:
        print(f"timing {s} ({WARMUP} + {args.steps} steps) ...", file=sys.stderr, flush=True)
        rows.append(time_setup(s, args.steps, args.batch_size, args.threads))
    print(f"| set-up | step ms (median) | first step s | 9000 steps, min |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['setup']} | {r['step_ms_median']} | {r['first_step_s']} | {r['train_9000_steps_min']} |")
    doc = {"machine": machine(), "batch_size": args.batch_size, "threads": args.threads, "steps": args.steps,
           "results": rows}
    print(f"machine: {doc['machine']}")
    if args.json:
        write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
