import json
import subprocess
import sys
from pathlib import Path

import pytest

from navstack.eval import EvalConfig, evaluate, parse_seed_range

CONTRACT = ("task", "agent", "episodes", "success", "spl", "soft_spl", "distance_to_goal", "steps_per_second")


def test_parse_seed_range():
    assert parse_seed_range("9000-9002") == [9000, 9001, 9002]
    assert parse_seed_range("1,4-5") == [1, 4, 5]
    for bad in ("", "a-b", "5-3", "-2"):
        with pytest.raises(ValueError, match="seed"):
            parse_seed_range(bad)


def test_oracle_is_perfect_and_contract_files(tmp_path, house):
    s = evaluate(EvalConfig(task="objectnav", scene_seeds=[7], episodes_per_scene=4, agent="oracle",
                            out=str(tmp_path), progress=False))
    for k in CONTRACT:
        assert k in s
    assert s["episodes"] == 4
    assert s["success"] == 1.0
    assert s["spl"] >= 0.9
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["success"] == s["success"]
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 4
    rec = json.loads(lines[0])
    assert rec["called_stop"] and rec["distance_to_goal"] < 0.1
    assert s["outcomes"]["success"]["n"] == 4 and s["outcomes"]["success"]["path_ratio"] >= 1.0
    assert (tmp_path / rec["map_png"]).stat().st_size > 1000
    assert (tmp_path / "datasets" / "objectnav" / "content" / "house_7.json.gz").exists()


def test_random_agent_and_goat(tmp_path, house):
    s = evaluate(EvalConfig(task="goat", scene_seeds=[7], episodes_per_scene=2, agent="random",
                            out=str(tmp_path), progress=False, save_maps=False))
    assert s["episodes"] == 2 and 0.0 <= s["success"] <= 1.0
    assert "success_by_subtask_index" in s and s["first_subtask_success"] is not None


def test_oracle_goat_subtasks(tmp_path, house):
    s = evaluate(EvalConfig(task="goat", scene_seeds=[7], episodes_per_scene=1, agent="oracle",
                            out=str(tmp_path), progress=False, save_maps=False))
    assert s["success"] == 1.0


def test_goat_records_why_the_modular_agent_ended_each_subtask(tmp_path, house):
    sim_cfg = tmp_path / "short.yaml"  # 25 steps a subtask keeps this fast; the records are what is tested
    sim_cfg.write_text((Path(__file__).resolve().parents[1] / "configs/sim/embedded.yaml").read_text()
                       .replace("max_episode_steps: 500", "max_episode_steps: 25"))
    evaluate(EvalConfig(task="goat", scene_seeds=[7], episodes_per_scene=1, agent="modular", sim_config=str(sim_cfg),
                        out=str(tmp_path / "run"), progress=False, save_maps=False))
    rec = json.loads((tmp_path / "run" / "episodes.jsonl").read_text().splitlines()[0])
    assert len(rec["subtasks"]) == len(rec["subtask_success"]) >= 2
    assert rec["agent_mode"] == rec["subtasks"][-1]["agent_mode"]  # the episode ends with its last subtask
    for st in rec["subtasks"]:
        assert st["steps"] <= 25
        assert st["agent_mode"] in ("spin", "explore", "recover", "approach", "verify", "stopped", "done"), st
        assert st["agent_target"] is None or isinstance(st["agent_target"], str)
        assert isinstance(st["last_resort"], bool) and st["geodesic_distance"] >= 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert sum(o["n"] for o in summary["outcomes"].values()) == len(rec["subtasks"])  # every subtask has an ending


def test_bad_config():
    with pytest.raises(ValueError, match="unknown task"):
        evaluate(EvalConfig(task="pointnav"))
    with pytest.raises(ValueError, match="unknown agent"):
        evaluate(EvalConfig(agent="nobody", scene_seeds=[7], out="/tmp/navstack-never"))


def test_cli_light_commands_do_not_import_torch(tmp_path):
    code = ("import sys; from navstack.cli import main; rc = main(['episodes', 'inspect', sys.argv[1]]); "
            "assert 'torch' not in sys.modules and 'open3d' not in sys.modules, 'heavy import'; sys.exit(rc)")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    r = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "bad.json.gz" in r.stderr
    r = subprocess.run([sys.executable, "-m", "navstack.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "eval" in r.stdout


def test_cli_eval_error_is_clean(tmp_path):
    r = subprocess.run([sys.executable, "-m", "navstack.cli", "eval", "--scene-seeds", "x", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "bad seed range" in r.stderr and "Traceback" not in r.stderr


def test_workers_give_the_same_results_as_serial(tmp_path, house):
    kw = dict(task="objectnav", scene_seeds=[7, 8], episodes_per_scene=1, agent="oracle", progress=False, save_maps=False)
    serial = evaluate(EvalConfig(out=str(tmp_path / "a"), **kw))
    parallel = evaluate(EvalConfig(out=str(tmp_path / "b"), workers=2, **kw))
    a = [json.loads(line) for line in (tmp_path / "a" / "episodes.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b" / "episodes.jsonl").read_text().splitlines()]
    assert [(r["scene_seed"], r["episode_id"], r["spl"]) for r in a] == [(r["scene_seed"], r["episode_id"], r["spl"]) for r in b]
    assert serial["success"] == parallel["success"] == 1.0


@pytest.mark.parametrize("script, argv", [("trace_episode", ["--seed", "9000"]),
                                          ("study_stop_checks", ["--seeds", "8998-9001"]),
                                          ("study_clip_test_time", ["--seeds", "8998-9001"]),
                                          ("study_path_overhead", ["--seeds", "8998-9001"]),
                                          ("study_value_crops", ["--seeds", "8998-9001"]),
                                          ("calibrate_goals", ["--seeds", "8998-9001"]),
                                          ("compare_clip", ["--seeds", "8998-9001", "shipped", "shipped"])])
def test_ground_truth_reports_refuse_held_out_houses(script, argv, load_benchmark):
    """benchmarks/trace_episode.py, calibrate_goals.py, compare_clip.py and the study_*.py scripts read ground
    truth or exist to choose: development seeds only (common.require_development_seeds), refused before any house is built."""
    with pytest.raises(SystemExit, match="development seeds"):
        load_benchmark(script).main(argv)


def test_trace_occupancy_picture_tells_truth_map_and_bumps_apart(tmp_path, house, load_benchmark):
    """benchmarks/trace_episode.py --occupancy-png: the agent's map against the house's true obstacles."""
    import cv2
    import numpy as np

    from navstack.mapping.occupancy import OccupancyGrid

    mod = load_benchmark("trace_episode")

    occ = OccupancyGrid()
    x0, z0, x1, z1 = house.plan.bounds
    occ.ensure(x0, z0, x1, z1)
    rr, cc = np.mgrid[0:occ.shape[0], 0:occ.shape[1]]
    x, z = occ.to_world(rr, cc)
    truth = house.navgrid.is_occupied(x, z)
    gr, gc = house.navgrid.spec.to_cell(x, z)
    occ.observed[:] = house.navgrid.spec.inside(gr, gc)
    occ.logodds[:] = np.where(truth & (x < (x0 + x1) / 2), 3.0, -3.0)  # the map holds the west half's obstacles
    occ.mark_blocked((x0 + x1) / 2, (z0 + z1) / 2, 0.0, 0.2, 0.1)
    occ._cache.clear()
    traj = np.array([[(x0 + x1) / 2, (z0 + z1) / 2], [(x0 + x1) / 2 + 0.5, (z0 + z1) / 2]])
    out = mod.write_occupancy_picture(occ, house, traj, tmp_path / "occ.png")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 50
    colours = {tuple(int(v) for v in c) for c in img.reshape(-1, 3)}
    for want in (mod._BOTH, mod._MISSED, mod._FREE, mod._BUMPS, mod._PATH):
        assert tuple(want) in colours, want
    assert tuple(mod._EXTRA) not in colours  # the map holds no obstacle the house lacks
    assert mod.write_occupancy_picture(OccupancyGrid(), house, traj, tmp_path / "none.png") is None


def test_goal_distance_falls_back_to_the_straight_line_where_the_grid_reaches_no_goal(house):
    """An episode may end where the nav grid reaches no view point (the body squeezed closer to furniture
    than the grid's clearance): the metrics get the straight line (a lower bound), never inf."""
    import math
    from types import SimpleNamespace

    import numpy as np

    from navstack.eval import HouseRunner

    runner = SimpleNamespace(house=house)
    target = np.array(house.navgrid.navigable_points()[0], float).reshape(1, 2)
    far = (float(target[0, 0]) - 30.0, float(target[0, 1]) - 40.0)  # off the grid: no geodesic
    assert math.isinf(house.navgrid.geodesic_distance(far, target))
    assert HouseRunner.goal_distance(runner, *far, target) == pytest.approx(50.0)
    near = tuple(target[0])  # a reachable start keeps its geodesic distance
    assert HouseRunner.goal_distance(runner, *near, target) == house.navgrid.geodesic_distance(near, target)
