"""Summaries of Habitat-schema episode files (`navstack episodes inspect FILE`). numpy + stdlib only.

`inspect_file(path)` validates the file (EpisodeFileError naming file and field when malformed) and
returns a dict; `format_summary(summary)` renders it as text. A split file with no episodes whose
`content/` folder holds per-scene files is reported as such and its content files are summarised.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, Optional

import numpy as np

from navstack.tasks.episodes import (
    GOAT,
    INSTANCE_IMAGENAV,
    OBJECTNAV,
    Dataset,
    _load_from_raw,
    content_files,
    goals_for_episode,
    read_json,
)

__all__ = ["inspect_file", "summarize_dataset", "format_summary", "DETOUR_RATIO"]

DETOUR_RATIO = 1.05  # habitat's generators reject episodes with geodesic/euclidean below this


def _stats(values: list) -> Optional[dict]:
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    return {"count": int(a.size), "min": float(a.min()), "median": float(np.median(a)),
            "mean": float(a.mean()), "max": float(a.max())}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def inspect_file(path: Any) -> dict:
    """Validate and summarise an episode file; a split file with empty episodes and a content/
    folder is summarised over its content files."""
    p = os.fspath(path)
    raw = read_json(p)
    is_split = (isinstance(raw, dict) and raw.get("episodes") == []
                and bool(content_files(p, raw=raw)))
    ds = _load_from_raw(raw, p, None, is_split, None)
    summary = summarize_dataset(ds)
    summary["file"] = p
    summary["layout"] = "split" if is_split else "episodes"
    summary["content_files"] = [os.path.basename(f) for f in ds.content_files]
    return summary


def summarize_dataset(ds: Dataset) -> dict:
    """The summary dict of an already-loaded Dataset (see inspect_file)."""
    eps = ds.episodes
    episodes_per_category: Counter = Counter()
    goat_types: Counter = Counter()
    subtasks_per_episode = []
    for e in eps:
        if ds.schema == GOAT:
            subtasks_per_episode.append(len(e.tasks or []))
            for t in e.tasks or []:
                episodes_per_category[t[0]] += 1  # counts subtasks for GOAT
                goat_types[t[1]] += 1
        else:
            cat = e.object_category
            if cat is None:
                goals = goals_for_episode(ds, e)
                cat = goals[0].object_category if goals else None
            episodes_per_category[cat if cat is not None else "?"] += 1

    # goal objects per category
    goals_per_category: Counter = Counter()
    all_goals = []
    if ds.schema == OBJECTNAV:
        for key, goals in (ds.goals_by_category or {}).items():
            for g in goals:
                goals_per_category[g.object_category or key.rsplit("_", 1)[-1]] += 1
                all_goals.append(g)
        if not ds.goals_by_category:  # old layout: inline goals, count unique object ids
            seen = {}
            for e in eps:
                for g in e.goals or []:
                    seen[(e.scene_id, g.object_id)] = g
            for g in seen.values():
                goals_per_category[g.object_category or "?"] += 1
                all_goals.append(g)
    elif ds.schema == INSTANCE_IMAGENAV:
        for g in (ds.goals or {}).values():
            goals_per_category[g.object_category or "?"] += 1
            all_goals.append(g)
    else:
        for goals in (ds.goals or {}).values():
            for g in goals:
                goals_per_category[g.object_category or "?"] += 1
                all_goals.append(g)

    geo, euc, ratios, visible = [], [], [], []
    for e in eps:
        info = e.info or {}
        g, u = info.get("geodesic_distance"), info.get("euclidean_distance")
        if _num(g):
            geo.append(float(g))
        if _num(u):
            euc.append(float(u))
        if _num(g) and _num(u) and u > 0:
            ratios.append(float(g) / float(u))
        if isinstance(info.get("goal_visible_from_start"), bool):
            visible.append(info["goal_visible_from_start"])

    categories = sorted(episodes_per_category)
    table = sorted(set(episodes_per_category) | set(goals_per_category))
    summary: dict = {
        "file": ds.source,
        "schema": ds.schema,
        "layout": "episodes",
        "content_files": [os.path.basename(f) for f in ds.content_files],
        "scenes": ds.scenes,
        "num_scenes": len(ds.scenes),
        "num_episodes": len(eps),
        "categories": categories,  # asked for by episodes (GOAT: by subtasks)
        "goal_categories": sorted(goals_per_category),
        "episodes_per_category": {k: episodes_per_category.get(k, 0) for k in table},
        "goals_per_category": {k: goals_per_category.get(k, 0) for k in table},
        "num_goals": len(all_goals),
        "num_view_points": sum(len(g.view_points or []) for g in all_goals),
        "num_image_goals": sum(len(g.image_goals or []) for g in all_goals),
        "geodesic_distance": _stats(geo),
        "euclidean_distance": _stats(euc),
        "num_with_ratio": len(ratios),
        "frac_detour_ratio_gt_1_05": (sum(r > DETOUR_RATIO for r in ratios) / len(ratios)) if ratios else None,
        "num_with_visibility": len(visible),
        "frac_goal_not_visible_from_start": (sum(not v for v in visible) / len(visible)) if visible else None,
        "goat": None,
    }
    if ds.schema == GOAT:
        summary["goat"] = {
            "num_subtasks": sum(subtasks_per_episode),
            "subtask_types": {k: goat_types.get(k, 0) for k in ("object", "image", "description")},
            "subtasks_per_episode": _stats(subtasks_per_episode),
        }
    return summary


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f} %"


def format_summary(summary: dict) -> str:
    """Readable text block for an inspect_file() summary."""
    s = summary
    lines = [f"file:        {s['file']}", f"schema:      {s['schema']}"]
    if s.get("layout") == "split":
        files = s.get("content_files") or []
        lines.append(f"layout:      split file with no episodes of its own; summarising {len(files)} "
                     f"content file(s) in content/: {', '.join(files)}")
    scenes = s.get("scenes") or []
    shown = ", ".join(os.path.basename(x) for x in scenes[:5]) + (" ..." if len(scenes) > 5 else "")
    lines.append(f"scenes:      {len(scenes)}" + (f" ({shown})" if scenes else ""))
    lines.append(f"episodes:    {s['num_episodes']}")
    goat = s.get("goat")
    if goat:
        st = goat["subtasks_per_episode"]
        types = ", ".join(f"{k} {v}" for k, v in goat["subtask_types"].items())
        lines.append(f"subtasks:    {goat['num_subtasks']} ({types})"
                     + (f"; per episode {st['min']:.0f}-{st['max']:.0f}, mean {st['mean']:.1f}" if st else ""))
    cats = s.get("categories") or []
    lines.append(f"categories:  {len(cats)}" + (f": {', '.join(cats)}" if cats else ""))
    lines.append(f"goals:       {s['num_goals']} objects, {s['num_view_points']} view points"
                 + (f", {s['num_image_goals']} image goals" if s.get("num_image_goals") else ""))
    table = list(s.get("goals_per_category") or {})
    if table:
        what = "subtasks" if goat else "episodes"
        width = max(len(c) for c in table)
        for c in table:
            lines.append(f"  {c:<{width}}  {s['goals_per_category'].get(c, 0):>5} goals"
                         f"  {s['episodes_per_category'].get(c, 0):>6} {what}")
    g = s.get("geodesic_distance")
    if g:
        lines.append(f"geodesic:    min {g['min']:.2f}  median {g['median']:.2f}  max {g['max']:.2f} m"
                     f"  ({g['count']} episodes)")
    else:
        lines.append("geodesic:    n/a (no info.geodesic_distance)")
    lines.append(f"geodesic/euclidean > {DETOUR_RATIO}: {_pct(s.get('frac_detour_ratio_gt_1_05'))}"
                 + (f" of {s['num_with_ratio']}" if s.get("num_with_ratio") else ""))
    lines.append(f"goal not visible from start: {_pct(s.get('frac_goal_not_visible_from_start'))}"
                 + (f" of {s['num_with_visibility']}" if s.get("num_with_visibility") else ""))
    return "\n".join(lines)
