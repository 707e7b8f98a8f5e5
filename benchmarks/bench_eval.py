"""Agents side by side on the same held-out episodes: Habitat metrics + decision speed.

    python benchmarks/bench_eval.py --task objectnav --agents oracle,random \
        --scene-seeds 9000-9009 --episodes-per-scene 5 --workers 2 [--json out.json]

Every agent sees exactly the same generated episodes (same houses, same episode seed); the table it
prints is the one pasted into README.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_json  # noqa: E402

from navstack.eval import EvalConfig, evaluate, parse_seed_range  # noqa: E402
from navstack.tasks.metrics import OUTCOMES  # noqa: E402

COLUMNS = ("success", "spl", "soft_spl", "distance_to_goal", "steps_per_second", "decision_ms_median")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="objectnav")
    ap.add_argument("--agents", default="oracle,random")
    ap.add_argument("--scene-seeds", default="9000-9009")
    ap.add_argument("--episodes-per-scene", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_eval")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    seeds = parse_seed_range(args.scene_seeds)
    rows = {}
    for agent in args.agents.split(","):
        s = evaluate(EvalConfig(task=args.task, scene_seeds=seeds, episodes_per_scene=args.episodes_per_scene,
                                agent=agent, out=f"{args.out}/{args.task}_{agent}", workers=args.workers,
                                save_maps=False))
        rows[agent] = s
    print(f"\n{args.task}, seeds {args.scene_seeds}, {args.episodes_per_scene} episodes per house\n")
    print("| agent | episodes | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for agent, s in rows.items():
        vals = " | ".join("n/a" if s.get(c) is None else f"{s[c]:.3f}" for c in COLUMNS)
        print(f"| {agent} | {s['episodes']} | {vals} |")
    # how the episodes ended (navstack.tasks.metrics.outcome): where the success and SPL were lost
    names = [n for n in OUTCOMES if any(n in (s.get("outcomes") or {}) for s in rows.values())]
    print("\n| agent | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for agent, s in rows.items():
        o = s.get("outcomes") or {}
        print(f"| {agent} | " + " | ".join(f"{o[n]['n']} (SPL {o[n]['spl']:.2f})" if n in o else "0" for n in names) + " |")
    m = machine()
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores")
    write_json(args.json, {"task": args.task, "scene_seeds": args.scene_seeds,
                           "episodes_per_scene": args.episodes_per_scene, "agents": rows, "machine": m})


if __name__ == "__main__":
    main()
