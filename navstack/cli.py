"""`navstack` command line. Heavy modules are imported inside each command, so `navstack --help` and
`navstack episodes inspect` start without torch or open3d."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


# ---------------------------------------------------------------------------- commands
def cmd_eval(args) -> int:
    from navstack.eval import EvalConfig, evaluate, format_table, parse_seed_range

    cfg = EvalConfig(
        task=args.task, scene_seeds=parse_seed_range(args.scene_seeds), episodes_per_scene=args.episodes_per_scene,
        agent=args.agent, out=args.out, workers=args.workers, ray_address=args.ray, sim_config=args.sim_config,
        episode_seed=args.episode_seed, save_maps=not args.no_maps,
        categories=args.categories.split(",") if args.categories else None, progress=not args.quiet,
        keep_map=args.keep_map, agent_config=args.agent_config,
    )
    summary = evaluate(cfg)
    print(format_table(summary))
    print(f"wrote {Path(args.out) / 'summary.json'}, {Path(args.out) / 'episodes.jsonl'}"
          + ("" if args.no_maps else f", maps in {Path(args.out) / 'maps'}/"))
    return 0


def cmd_episodes_inspect(args) -> int:
    from navstack.tasks.episodes import EpisodeFileError
    from navstack.tasks.inspect import format_summary, inspect_file

    status = 0
    for path in args.files:
        try:
            info = inspect_file(path)
        except (EpisodeFileError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps(info, indent=2, default=str) if args.json else format_summary(info))
    return status


def cmd_episodes_generate(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from navstack.config import load_sim_config
    from navstack.eval import parse_seed_range
    from navstack.sim.scene import HouseConfig, generate_house
    from navstack.tasks.episodes import dataset_from_dict, save_dataset
    from navstack.tasks.generate import SCHEMA_OF_TASK, EpisodeGenerator
    from navstack.tasks.inspect import format_summary, inspect_file

    sim = load_sim_config(args.sim_config)
    out = Path(args.out)
    seeds = parse_seed_range(args.scene_seeds)
    split = out / args.split
    for seed in tqdm(seeds, desc=f"{args.task} episodes", unit="house"):
        house = generate_house(seed, HouseConfig(agent_radius=sim.agent_radius))
        gen = EpisodeGenerator(house, sensor_height=sim.sensor_height)
        raw = gen.generate(args.task, args.episodes_per_scene, np.random.default_rng([args.episode_seed, seed]))
        ds = dataset_from_dict(raw, SCHEMA_OF_TASK[args.task], source=f"house_{seed}")
        save_dataset(ds, split / "content" / f"house_{seed}.json.gz")
        if args.goal_images and args.task in ("instance_imagenav", "goat"):
            _write_goal_images(gen, ds, split / "goal_images")
    split_raw = {"episodes": []}
    if args.task == "objectnav":
        from navstack.sim.catalog import CATEGORIES

        ids = {c: i for i, c in enumerate(CATEGORIES)}
        split_raw.update(category_to_task_category_id=ids, category_to_scene_annotation_category_id=dict(ids))
    save_dataset(dataset_from_dict(split_raw, SCHEMA_OF_TASK[args.task], source="split"), split / f"{args.split}.json.gz")
    print(format_summary(inspect_file(split / f"{args.split}.json.gz")))
    return 0


def _write_goal_images(gen, ds, folder: Path) -> None:
    import cv2
    import numpy as np

    from navstack.types import Intrinsics

    folder.mkdir(parents=True, exist_ok=True)
    goals = ds.goals.values() if isinstance(ds.goals, dict) else []
    for g in goals:
        for goal in g if isinstance(g, list) else [g]:
            for i, p in enumerate(goal.image_goals or []):
                w, h = p.image_dimensions
                img = gen.renderer.render(np.asarray(p.position), np.asarray(p.rotation),
                                          Intrinsics.from_hfov(int(w), int(h), float(p.hfov))).rgb
                cv2.imwrite(str(folder / f"{Path(ds.episodes[0].scene_id).name}_{goal.object_id}_{i}.png"), img[:, :, ::-1])


def cmd_house(args) -> int:
    import time

    from navstack.sim.scene import HouseConfig, generate_house
    from navstack.sim.topdown import TopDownMap

    t0 = time.perf_counter()
    house = generate_house(args.seed, HouseConfig(num_rooms=args.rooms))
    t_gen = time.perf_counter() - t0
    out = Path(args.out)
    house.save(out)
    TopDownMap(house).save(out / "topdown.png")
    print(f"house {args.seed}: {len(house.plan.rooms)} rooms ({', '.join(r.name for r in house.plan.rooms)}), "
          f"{len(house.objects)} objects in {len(house.categories)} categories, generated in {t_gen:.2f} s")
    print(f"wrote {out}/house.mesh.npz, house.semantic.json, topdown.png")
    if args.views:
        _write_views(house, out, args.views)
    return 0


def _write_views(house, out: Path, n: int) -> None:
    import cv2
    import numpy as np

    from navstack.sim.backend import EmbeddedBackend

    backend = EmbeddedBackend(house)
    rng = np.random.default_rng(house.seed)
    tiles = []
    for p in house.navgrid.sample_navigable(rng, n):
        backend.reset(position=[p[0], 0, p[1]], rotation=[0, np.sin(rng.uniform(-np.pi, np.pi) / 2), 0, 1])
        o = backend.observe()
        depth = cv2.applyColorMap((o.depth / backend.config.max_depth * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
        inst = cv2.applyColorMap(((o.instance * 37) % 256).astype(np.uint8), cv2.COLORMAP_HSV)
        tiles.append(np.concatenate([o.rgb[:, :, ::-1], depth, inst], 1))
    cv2.imwrite(str(out / "views.png"), np.concatenate(tiles, 0))
    print(f"wrote {out}/views.png (RGB | depth | instance ids from {n} random poses)")


def cmd_nav(args) -> int:
    from navstack.nav import describe_goal, load_goal_image, navigate
    from navstack.types import CategoryGoal, ImageGoal, TextGoal

    given = [g for g in (args.goal_category, args.goal_text, args.goal_image) if g is not None]
    if len(given) != 1:
        raise CliError("give exactly one of --goal-category, --goal-text, --goal-image")
    if args.goal_category is not None:
        from navstack.sim.catalog import CATEGORIES

        if args.goal_category not in CATEGORIES:
            raise CliError(f"unknown category {args.goal_category!r}; known: {', '.join(CATEGORIES)}")
        goal = CategoryGoal(args.goal_category)
    elif args.goal_text is not None:
        text = args.goal_text.strip()
        if not text:
            raise CliError("--goal-text is empty")
        goal = TextGoal(text)
    else:
        goal = ImageGoal(load_goal_image(args.goal_image))
    start = None
    if args.start:
        try:
            start = [float(v) for v in args.start.split(",")]
            assert len(start) == 2
        except (ValueError, AssertionError):
            raise CliError(f"--start must be 'x,z' in metres, got {args.start!r}") from None
    r = navigate(args.seed, goal, args.agent, start_xz=start, out=args.out, sim_config=args.sim_config,
                 record_every=args.record_every)
    print(f"{describe_goal(goal)} in house {args.seed}: {'STOP' if r.called_stop else 'no STOP'} after {r.steps} steps, "
          f"stopped near {r.stopped_near}")
    if r.success is not None:
        print(f"success {r.success} (geodesic distance to the nearest view point {r.distance_to_goal:.2f} m)")
    if r.animation:
        print(f"animation: {r.animation} ({r.frames} frames)")
    return 0


def cmd_demo(args) -> int:
    from navstack.eval import EvalConfig, evaluate, format_table

    out = Path(args.out)
    print("navstack demo: generated house 9000 (held out), ObjectNav episodes scored with Habitat's metrics;\n"
          "the modular agent (own semantic map, no ground truth) and, on the same episodes, the oracle "
          "(shortest path: the ceiling)")
    for agent in ("modular", "oracle"):
        summary = evaluate(EvalConfig(task="objectnav", scene_seeds=[9000], episodes_per_scene=args.episodes,
                                      agent=agent, out=str(out / agent)))
        print(format_table(summary))
        print(f"{agent}: episode maps {out / agent / 'maps'}/, summary {out / agent / 'summary.json'}")
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="navstack", description="Embodied navigation agent stack.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    e = sub.add_parser("eval", help="evaluate an agent on generated houses (Habitat metrics)")
    e.add_argument("--task", default="objectnav", choices=["objectnav", "instance_imagenav", "textnav", "goat"])
    e.add_argument("--scene-seeds", default="9000-9009", help="house seeds, e.g. 9000-9009 (held-out: >= 9000)")
    e.add_argument("--episodes-per-scene", type=int, default=5)
    e.add_argument("--agent", default="modular", help="agent name (modular, oracle, random, ablations)")
    e.add_argument("--out", default="runs/eval")
    e.add_argument("--workers", type=int, default=1, help="parallel processes (one house each)")
    e.add_argument("--ray", metavar="ADDRESS", help="run houses on a Ray cluster")
    e.add_argument("--sim-config", help="configs/sim name or YAML path (default: embedded 320x240)")
    e.add_argument("--episode-seed", type=int, default=0)
    e.add_argument("--categories", help="ObjectNav categories, comma separated (default: all in the house)")
    e.add_argument("--no-maps", action="store_true", help="skip the per-episode top-down PNGs")
    e.add_argument("--keep-map", action="store_true", help="lifelong: keep the agent's map across episodes of a house")
    e.add_argument("--agent-config", help="configs/agent name or YAML path (modular agents)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_eval)

    ep = sub.add_parser("episodes", help="Habitat-schema episode files")
    esub = ep.add_subparsers(dest="episodes_command", metavar="SUBCOMMAND")
    esub.required = True
    i = esub.add_parser("inspect", help="summarise episode files (ours or Habitat's)")
    i.add_argument("files", nargs="+")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_episodes_inspect)
    g = esub.add_parser("generate", help="generate episodes for generated houses")
    g.add_argument("--task", default="objectnav", choices=["objectnav", "instance_imagenav", "textnav", "goat"])
    g.add_argument("--scene-seeds", default="9000-9004")
    g.add_argument("--episodes-per-scene", type=int, default=10)
    g.add_argument("--out", default="data/episodes")
    g.add_argument("--split", default="val")
    g.add_argument("--episode-seed", type=int, default=0)
    g.add_argument("--sim-config")
    g.add_argument("--goal-images", action="store_true", help="also write the goal images as PNG")
    g.set_defaults(func=cmd_episodes_generate)

    h = sub.add_parser("house", help="generate a house, save it with a top-down map")
    h.add_argument("--seed", type=int, default=9000)
    h.add_argument("--rooms", type=int, help="number of rooms (default: 4-10 by seed)")
    h.add_argument("--out", default="runs/house")
    h.add_argument("--views", type=int, default=0, help="also render N random egocentric views")
    h.set_defaults(func=cmd_house)

    n = sub.add_parser("nav", help="one navigation in a generated house, with an animation")
    n.add_argument("--seed", type=int, default=9000)
    n.add_argument("--goal-category")
    n.add_argument("--goal-text")
    n.add_argument("--goal-image", help="path to a PNG/JPEG goal image")
    n.add_argument("--agent", default="modular")
    n.add_argument("--start", help="start 'x,z' (default: a random navigable point)")
    n.add_argument("--out", default="runs/nav")
    n.add_argument("--sim-config")
    n.add_argument("--record-every", type=int, default=1)
    n.set_defaults(func=cmd_nav)

    d = sub.add_parser("demo", help="the README demo: a house, a few ObjectNav episodes, maps")
    d.add_argument("--episodes", type=int, default=3)
    d.add_argument("--out", default="runs/demo")
    d.set_defaults(func=cmd_demo)

    from navstack.mapping.shape_train import add_train_shape_parser  # light: the map loads when training starts
    from navstack.perception.clip_train import add_train_clip_parser  # light: torch loads when training starts

    t = sub.add_parser("train", help="train navstack's models (the embedded-world CLIP model, the map's shape prior)")
    tsub = t.add_subparsers(dest="train_command", metavar="MODEL")
    tsub.required = True
    add_train_clip_parser(tsub)
    add_train_shape_parser(tsub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ValueError, FileNotFoundError) as e:
        print(f"navstack {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
