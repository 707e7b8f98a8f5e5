"""TopoGraph: the agent's topological memory (networkx).

Place nodes are added as the robot moves (pose + keyframe embedding, visited); object nodes link to the
places they were seen from; frontier nodes sit at the edge of the known map, linked to the nearest
place (observed but unvisited). Edges are weighted by metres. The global route is the shortest path on
this graph; `unvisited_candidates` gives Meta-Explore's local goals (observed-but-unvisited nodes
ranked by semantic value against distance) for recovering from a wrong choice without backtracking.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import networkx as nx
import numpy as np


class TopoGraph:
    def __init__(self, place_spacing: float = 1.0):
        self.g = nx.Graph()
        self.place_spacing = place_spacing
        self._next_place = 0
        self.current_place: Optional[str] = None

    def clear(self) -> None:
        self.g.clear()
        self._next_place = 0
        self.current_place = None

    # ------------------------------------------------------------------ nodes
    def places(self) -> List[str]:
        return [n for n, d in self.g.nodes(data=True) if d["kind"] == "place"]

    def _nearest_place(self, x: float, z: float) -> Tuple[Optional[str], float]:
        best, best_d = None, math.inf
        for n in self.places():
            px, pz = self.g.nodes[n]["xz"]
            d = math.hypot(px - x, pz - z)
            if d < best_d:
                best, best_d = n, d
        return best, best_d

    def update_place(self, x: float, z: float, yaw: float, embedding: Optional[np.ndarray], stamp: float) -> str:
        """Add a place node when the agent is `place_spacing` m from all others; link it to the last one."""
        near, d = self._nearest_place(x, z)
        if near is None or d >= self.place_spacing:
            node = f"place:{self._next_place}"
            self._next_place += 1
            self.g.add_node(node, kind="place", xz=(x, z), yaw=yaw, embedding=embedding, stamp=stamp, visited=True)
            if self.current_place is not None:
                px, pz = self.g.nodes[self.current_place]["xz"]
                self.g.add_edge(self.current_place, node, weight=math.hypot(px - x, pz - z))
            near = node
        elif self.current_place is not None and near != self.current_place and not self.g.has_edge(near, self.current_place):
            px, pz = self.g.nodes[self.current_place]["xz"]
            qx, qz = self.g.nodes[near]["xz"]
            self.g.add_edge(self.current_place, near, weight=math.hypot(px - qx, pz - qz))
        self.current_place = near
        return near

    def update_objects(self, instances, seen_now: List[int]) -> None:
        """Object nodes for the map's instances, linked to the current place when seen from it."""
        for inst in instances:
            node = f"object:{inst.id}"
            c = inst.centre
            if node not in self.g:
                self.g.add_node(node, kind="object", xz=(float(c[0]), float(c[2])), instance=inst.id, visited=False)
            else:
                self.g.nodes[node]["xz"] = (float(c[0]), float(c[2]))
        if self.current_place is None:
            return
        px, pz = self.g.nodes[self.current_place]["xz"]
        for iid in seen_now:
            node = f"object:{iid}"
            if node in self.g:
                ox, oz = self.g.nodes[node]["xz"]
                self.g.add_edge(self.current_place, node, weight=math.hypot(px - ox, pz - oz), seen=True)

    def set_frontiers(self, frontiers, values: Optional[List[float]] = None) -> None:
        """Replace frontier nodes with the current frontiers, each linked to its nearest place."""
        self.g.remove_nodes_from([n for n, d in self.g.nodes(data=True) if d["kind"] == "frontier"])
        for i, f in enumerate(frontiers):
            node = f"frontier:{i}"
            x, z = float(f.target[0]), float(f.target[1])
            self.g.add_node(node, kind="frontier", xz=(x, z), size=f.size, visited=False,
                            value=(values[i] if values is not None else math.nan))
            near, d = self._nearest_place(x, z)
            if near is not None:
                self.g.add_edge(near, node, weight=d)

    def mark_visited(self, node: str) -> None:
        if node in self.g:
            self.g.nodes[node]["visited"] = True

    # ------------------------------------------------------------------ queries
    def route(self, target: str) -> List[str]:
        """Global route: shortest path on the graph from the current place to `target` ([] if none)."""
        if self.current_place is None or target not in self.g:
            return []
        try:
            return nx.shortest_path(self.g, self.current_place, target, weight="weight")
        except nx.NetworkXNoPath:
            return []

    def route_length(self, target: str) -> float:
        path = self.route(target)
        if not path:
            return math.inf
        return float(sum(self.g.edges[a, b]["weight"] for a, b in zip(path, path[1:])))

    def unvisited_candidates(self, x: float, z: float, exclude=()) -> List[Tuple[str, float, float]]:
        """Observed-but-unvisited nodes (frontiers, objects) as (node, value, euclidean distance)."""
        out = []
        for n, d in self.g.nodes(data=True):
            if d["kind"] in ("frontier", "object") and not d.get("visited") and n not in exclude:
                nx_, nz = d["xz"]
                out.append((n, float(d.get("value", math.nan)), math.hypot(nx_ - x, nz - z)))
        return out

    def stats(self) -> Dict[str, int]:
        kinds: Dict[str, int] = {}
        for _, d in self.g.nodes(data=True):
            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        return {**kinds, "edges": self.g.number_of_edges()}
