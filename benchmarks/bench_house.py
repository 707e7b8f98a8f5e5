"""House generation speed: floor plan + furniture placement + navigable grid, per seed (target < 5 s).

    python benchmarks/bench_house.py --seeds 9000-9019 [--json out.json]

Also times the first mesh build + renderer construction (model meshes come from the converted-model
cache after the first run) so the cost of a cold episode start is visible.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_json  # noqa: E402

from navstack.eval import parse_seed_range  # noqa: E402
from navstack.sim.catalog import load_catalog  # noqa: E402
from navstack.sim.scene import generate_house  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="9000-9019")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    load_catalog()  # parse once, as a long-running process would
    gen, build, rooms, objects = [], [], [], []
    for seed in parse_seed_range(args.seeds):
        t0 = time.perf_counter()
        house = generate_house(seed)
        t1 = time.perf_counter()
        house.renderer()
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        build.append(t2 - t1)
        rooms.append(len(house.plan.rooms))
        objects.append(len(house.objects))
    out = {
        "houses": len(gen),
        "generate_s": {"median": statistics.median(gen), "max": max(gen)},
        "meshes_and_renderer_s": {"median": statistics.median(build), "max": max(build)},
        "rooms": {"min": min(rooms), "max": max(rooms)}, "objects": {"min": min(objects), "max": max(objects)},
        "machine": machine(),
    }
    print(f"houses {out['houses']}  rooms {min(rooms)}-{max(rooms)}  objects {min(objects)}-{max(objects)}")
    print(f"house + navigable grid: median {out['generate_s']['median']:.3f} s, max {out['generate_s']['max']:.3f} s")
    print(f"meshes + renderer:      median {out['meshes_and_renderer_s']['median']:.3f} s, "
          f"max {out['meshes_and_renderer_s']['max']:.3f} s")
    print(f"machine: {out['machine']['cpu']} x{out['machine']['cores']}")
    write_json(args.json, out)


if __name__ == "__main__":
    main()
