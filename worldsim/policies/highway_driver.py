"""Scripted highway-env driver: keep lane, overtake when a lane is free, brake or swerve for conflicts.

It reads the road and the other cars from the simulator (privileged state) and answers with the five
meta-actions a player has. Each step it

1. forms an *intent* from simple driving rules: cruise at the episode's preferred speed, keep a time gap
   to the car ahead (found with highway-env's ``road.neighbour_vehicles``), overtake a slower car when an
   adjacent lane has room, drift back right now and then;
2. checks every candidate action with a short look-ahead: the ego's path along its lane and route under
   that action's cruise speed (or in the side lane) against every nearby car moved at constant speed along
   its own lane and route. This catches what the lane rules cannot see: crossing traffic at the
   intersection, cars circulating in the roundabout, the merging car;
3. keeps the intent if it stays conflict-free for the episode's reaction time, else takes the candidate
   whose first conflict is furthest away.

Per-episode style parameters (preferred speed and how often it changes, time gap, reaction time, safety
margin, eagerness to overtake, keep-right and lane-wandering habits, action noise) come from the policy's
generator, so the data covers calm and pushy driving, and the occasional random action makes it visit
recoveries too. In scenarios without side lanes (most of the intersection) the lane rules never fire.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from worldsim.policies.base import Policy
from worldsim.sources.base import World

NOOP, LANE_LEFT, LANE_RIGHT, FASTER, SLOWER = range(5)

#: Look-ahead times (s) of the conflict check.
_TIMES = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0])
#: Cars further than this (m) from the ego are ignored.
_RADIUS = 70.0
#: Time constants (s) of highway-env's speed and lateral controllers (ControlledVehicle.TAU_*).
_TAU_SPEED, _TAU_LATERAL = 0.6, 0.6
#: A random (noise) action is only taken if it stays conflict-free this long (s).
_NOISE_SAFE_S = 1.0
#: Tie-break between equally safe fallback actions: braking first, speeding up last.
_FALLBACK_ORDER = {SLOWER: 4, NOOP: 3, LANE_LEFT: 2, LANE_RIGHT: 2, FASTER: 1}


class HighwayDriver(Policy):
    """Drive through any scenario of :class:`~worldsim.sources.highway.HighwayWorld`. See the module docstring.

    Args:
        noise: Mean probability per step of starting a random action (held 1-3 steps, skipped while it
            would collide within a second); each episode draws its own rate between 0 and twice this.
    """

    def __init__(self, noise: float = 0.03) -> None:
        if not 0.0 <= noise <= 0.5:
            raise ValueError(f"noise must be in [0, 0.5], got {noise}")
        self.noise = noise

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Draw this episode's driving style."""
        super().reset(world, rng)
        self.noise_rate = float(rng.uniform(0.0, 2.0 * self.noise))
        self.speed_pref = float(rng.uniform(0.4, 1.0))  # preferred cruise speed, as a fraction of the top one
        self.headway = float(rng.uniform(0.7, 1.4))  # s of time gap kept to the car ahead
        self.react = float(rng.uniform(1.2, 2.2))  # s: an action must stay conflict-free this long
        self.margin = float(rng.uniform(0.8, 2.5))  # m of extra length around cars in conflict checks
        self.eagerness = float(rng.uniform(0.2, 1.0))  # chance per step to overtake a slower car
        self.keep_right = float(rng.uniform(0.0, 0.15))  # chance per step to move right when free
        self.wander = float(rng.uniform(0.0, 0.06))  # chance per step to change to any free lane
        self.mood = float(rng.uniform(0.0, 0.04))  # chance per step to pick a new preferred speed
        self.cooldown_steps = int(rng.integers(3, 8))  # steps between our own lane changes
        self.cooldown = 0
        self.noise_action, self.noise_left = NOOP, 0

    def act(self, frame: np.ndarray) -> int:
        """Return an action id for the current state (the frame itself is not needed)."""
        self.cooldown = max(0, self.cooldown - 1)
        action, scores = self._decide()
        if self.noise_left > 0 or self.rng.random() < self.noise_rate:
            if self.noise_left <= 0:
                self.noise_action = int(self.rng.integers(5))
                self.noise_left = int(self.rng.integers(1, 4))
            self.noise_left -= 1
            # Random actions take the data off the driver's usual states, but not into a crash a moment
            # later: those come from the random policy in the collection mix.
            if self.noise_action not in scores or scores[self.noise_action][0] >= _NOISE_SAFE_S:
                action = self.noise_action
        if action in (LANE_LEFT, LANE_RIGHT):
            self.cooldown = self.cooldown_steps
        return action

    # -- decision ------------------------------------------------------------------------------------

    def _decide(self) -> tuple[int, dict[int, tuple[float, int]]]:
        """The chosen action and the conflict scores of the candidates (empty: nobody near)."""
        env = self.world.unwrapped
        ego, road = env.vehicle, env.road
        network = road.network
        intent = self._intent(env, ego)

        others = [
            o
            for o in list(road.vehicles) + list(road.objects)
            if o is not ego
            and getattr(o, "solid", True)
            and getattr(o, "collidable", True)
            and float(np.linalg.norm(o.position - ego.position)) < _RADIUS
            and not _is_follower(ego, o)
        ]
        if not others:
            return intent, {}
        # Every other car's predicted poses, computed once and shared by all candidates.
        poses = [_predict(network, o, getattr(o, "lane_index", None), _constant(o)) for o in others]
        pos = np.stack([p for p, _ in poses])  # (N, T, 2)
        head = np.stack([h for _, h in poses])  # (N, T)
        dims = np.array([[getattr(o, "LENGTH", ego.LENGTH), getattr(o, "WIDTH", ego.WIDTH)] for o in others])

        scores = {a: self._conflicts(network, ego, a, pos, head, dims) for a in self._candidates(env, ego)}
        if intent in scores and scores[intent][0] >= self.react:
            return intent, scores
        # Latest first conflict, then fewest conflicting look-ahead samples, then the safer kind of action.
        return max(scores, key=lambda a: (*scores[a], _FALLBACK_ORDER[a])), scores

    def _intent(self, env: Any, ego: Any) -> int:
        """What a calm driver would do if nothing unexpected happened."""
        if self.rng.random() < self.mood:
            self.speed_pref = float(self.rng.uniform(0.0, 1.0))
        speeds = np.asarray(ego.target_speeds, dtype=float)
        want = int(np.clip(round(self.speed_pref * (len(speeds) - 1)), 0, len(speeds) - 1))
        idx = int(ego.speed_index)
        changing = ego.lane_index != ego.target_lane_index
        free_to_change = not changing and self.cooldown == 0
        front, _ = env.road.neighbour_vehicles(ego, ego.target_lane_index)
        gap, closing = _gap_ahead(env.road.network, ego, front, ego.target_lane_index)
        headway = gap / max(ego.speed, 1.0)

        if headway < self.headway and (closing > 0 or headway < 0.5 * self.headway):
            # Catching up with a slower car: overtake if a lane is free, else slow down to its speed. At
            # the lowest cruise speed we cannot slow down further, so overtaking is the only way out.
            eager = 1.0 if idx == 0 else self.eagerness
            if free_to_change and self.rng.random() < eager:
                lane = self._free_side_lane(env, ego, prefer_left=True)
                if lane is not None:
                    return LANE_LEFT if lane[2] < ego.target_lane_index[2] else LANE_RIGHT
            return SLOWER if idx > 0 and (closing > 1.0 or headway < 0.5 * self.headway) else NOOP
        if free_to_change and self.rng.random() < self.keep_right:
            lane = self._free_side_lane(env, ego, prefer_left=False, only_right=True)
            if lane is not None:
                return LANE_RIGHT
        if free_to_change and self.rng.random() < self.wander:
            lane = self._free_side_lane(env, ego, prefer_left=bool(self.rng.random() < 0.5))
            if lane is not None:
                return LANE_LEFT if lane[2] < ego.target_lane_index[2] else LANE_RIGHT
        if idx < want and headway > 2.0 * self.headway:
            return FASTER
        if idx > want:
            return SLOWER
        return NOOP

    def _candidates(self, env: Any, ego: Any) -> list[int]:
        """Actions worth checking: the three speed actions, plus lane changes where a side lane exists."""
        out = [NOOP, SLOWER, FASTER]
        if ego.lane_index == ego.target_lane_index:
            for lane_index in self._side_lanes(env, ego):
                out.append(LANE_LEFT if lane_index[2] < ego.target_lane_index[2] else LANE_RIGHT)
        return out

    def _side_lanes(self, env: Any, ego: Any) -> list[tuple[str, str, int]]:
        """Adjacent lanes the ego may move to: reachable and not forbidden (the merge ramp)."""
        network = env.road.network
        out = []
        for lane_index in network.side_lanes(ego.target_lane_index):
            lane = network.get_lane(lane_index)
            if not getattr(lane, "forbidden", False) and lane.is_reachable_from(ego.position):
                out.append(lane_index)
        return out

    def _conflicts(
        self, network: Any, ego: Any, action: int, pos: np.ndarray, head: np.ndarray, dims: np.ndarray
    ) -> tuple[float, int]:
        """When and how much the ego, doing ``action``, overlaps other cars in the look-ahead.

        Returns:
            The earliest overlap time in seconds (inf: none) and minus the number of overlapping
            (car, time) samples, so that larger is safer in both.
        """
        speeds = np.asarray(ego.target_speeds, dtype=float)
        lane_index = ego.target_lane_index
        target = float(ego.target_speed)
        current = int(np.argmin(np.abs(speeds - ego.speed)))  # as MDPVehicle.speed_to_index
        if action == FASTER:
            target = float(speeds[min(current + 1, len(speeds) - 1)])
        elif action == SLOWER:
            target = float(speeds[max(current - 1, 0)])
        elif action in (LANE_LEFT, LANE_RIGHT):
            step = -1 if action == LANE_LEFT else 1
            lane_index = (lane_index[0], lane_index[1], lane_index[2] + step)
        # Distance covered while the speed controller closes the gap to the target exponentially.
        dist = target * _TIMES + (ego.speed - target) * _TAU_SPEED * (1.0 - np.exp(-_TIMES / _TAU_SPEED))
        ego_pos, ego_head = _predict(network, ego, lane_index, np.maximum(dist, 0.0), lateral_decay=True)

        rel = pos - ego_pos[None]  # (N, T, 2)
        cos_e, sin_e = np.cos(ego_head)[None], np.sin(ego_head)[None]
        lon = rel[..., 0] * cos_e + rel[..., 1] * sin_e
        lat = -rel[..., 0] * sin_e + rel[..., 1] * cos_e
        dh = head - ego_head[None]
        o_len, o_wid = dims[:, 0:1], dims[:, 1:2]
        # Half-extent of the other car's footprint along the ego's axes.
        ext_lon = 0.5 * (o_len * np.abs(np.cos(dh)) + o_wid * np.abs(np.sin(dh)))
        ext_lat = 0.5 * (o_len * np.abs(np.sin(dh)) + o_wid * np.abs(np.cos(dh)))
        hit = (np.abs(lon) < 0.5 * ego.LENGTH + ext_lon + self.margin) & (np.abs(lat) < 0.5 * ego.WIDTH + ext_lat + 0.3)
        any_hit = hit.any(axis=0)
        first = float(_TIMES[int(np.argmax(any_hit))]) if any_hit.any() else math.inf
        return first, -int(hit.sum())

    def _free_side_lane(
        self, env: Any, ego: Any, prefer_left: bool, only_right: bool = False
    ) -> tuple[str, str, int] | None:
        """A side lane with comfortable gaps ahead and behind (best one first), or None."""
        road, network = env.road, env.road.network
        current = ego.target_lane_index
        candidates = []
        for lane_index in self._side_lanes(env, ego):
            left = lane_index[2] < current[2]
            if only_right and left:
                continue
            lane = network.get_lane(lane_index)
            front, rear = road.neighbour_vehicles(ego, lane_index)
            gap_front, closing = _gap_ahead(network, ego, front, lane_index)
            if gap_front < max(8.0, ego.speed * self.headway) + 2.0 * max(closing, 0.0):
                continue
            if rear is not None:
                s_ego = lane.local_coordinates(ego.position)[0]
                gap_rear = s_ego - lane.local_coordinates(rear.position)[0] - ego.LENGTH
                if gap_rear < 6.0 + 2.5 * max(rear.speed - ego.speed, 0.0):
                    continue
            candidates.append((gap_front + (15.0 if left == prefer_left else 0.0), lane_index))
        if not candidates:
            return None
        return max(candidates)[1]


def _is_follower(ego: Any, other: Any) -> bool:
    """A car behind the ego in its own lane: it sees the ego and brakes for it (IDM), so never a threat."""
    lane_index = getattr(other, "lane_index", None)
    # Only a car already in the ego's lane and driving the same way; one merging into the lane (roundabout
    # entry, a lane change in progress) may not have seen the ego yet.
    if lane_index is None or lane_index != ego.lane_index or ego.lane_index != ego.target_lane_index:
        return False
    if abs((other.heading - ego.heading + math.pi) % (2 * math.pi) - math.pi) > 0.3:
        return False
    lane = ego.road.network.get_lane(lane_index)
    return bool(lane.local_coordinates(other.position)[0] < lane.local_coordinates(ego.position)[0])


def _constant(vehicle: Any) -> np.ndarray:
    """Distances covered at :data:`_TIMES` at constant speed."""
    return max(float(getattr(vehicle, "speed", 0.0)), 0.0) * _TIMES


def _gap_ahead(network: Any, ego: Any, front: Any, lane_index: Any) -> tuple[float, float]:
    """Bumper-to-bumper distance (m) to ``front`` along ``lane_index`` and the closing speed (m/s)."""
    if front is None:
        return math.inf, 0.0
    lane = network.get_lane(lane_index)
    s_ego = lane.local_coordinates(ego.position)[0]
    s_front = lane.local_coordinates(front.position)[0]
    if s_front < s_ego:  # front is on the next lane segment: fall back to straight-line distance
        s_front = s_ego + float(np.linalg.norm(front.position - ego.position))
    gap = s_front - s_ego - 0.5 * (ego.LENGTH + getattr(front, "LENGTH", ego.LENGTH))
    return max(gap, 0.0), float(ego.speed - getattr(front, "speed", 0.0))


def _predict(
    network: Any, vehicle: Any, lane_index: Any, dist: np.ndarray, lateral_decay: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, 2) and headings (T,) of ``vehicle`` after travelling ``dist`` (T,) metres.

    The vehicle moves along ``lane_index`` and then along its planned route (or the closest next lane),
    so curves and turns are followed; objects without a lane, or standing still, stay where they are.
    With ``lateral_decay`` its current lateral offset from the lane fades as under highway-env's lateral
    controller (a lane change in progress, or one about to start).
    """
    n = len(dist)
    if not isinstance(lane_index, tuple) or dist[-1] < 0.1:  # objects off the road have a NaN lane index
        return np.tile(np.asarray(vehicle.position, dtype=float), (n, 1)), np.full(n, float(vehicle.heading))
    route = _route_from(getattr(vehicle, "route", None) or [], lane_index)
    lane = network.get_lane(lane_index)
    s, lat = lane.local_coordinates(vehicle.position)
    lateral = lat * np.exp(-_TIMES[:n] / _TAU_LATERAL) if lateral_decay else np.zeros(n)
    positions, headings = [], []
    for k in range(n):
        s_k = s + float(dist[k])
        for _ in range(3):  # at most a few lane segments within the look-ahead
            if s_k <= lane.length:
                break
            # Vehicles pick their next lane when half a car length from the end (ControlledVehicle
            # .follow_road), by distance from that point: do the same to pick the same lane.
            end = max(lane.length - 0.5 * getattr(vehicle, "LENGTH", 5.0), 0.0)
            nxt = network.next_lane(lane_index, route=route, position=lane.position(end, 0.0))
            if nxt == lane_index or nxt[1] is None:
                break
            # Lanes need not join end to start (roundabout entries meet the ring part-way along a
            # segment): continue from where the old lane's end lies on the new one.
            new_lane = network.get_lane(nxt)
            shift = new_lane.local_coordinates(lane.position(lane.length, 0.0))[0] - lane.length
            s_k += shift
            s += shift
            lane_index, lane = nxt, new_lane
        positions.append(lane.position(s_k, float(lateral[k])))
        headings.append(lane.heading_at(s_k))
    return np.asarray(positions, dtype=float), np.asarray(headings, dtype=float)


def _route_from(route: list[Any], lane_index: Any) -> list[Any]:
    """A copy of ``route`` from ``lane_index``'s road or the road after it ([] if neither is on it).

    ``next_lane()`` pops finished steps off the route it is given (hence the copy) and logs a warning
    when the route does not continue from the lane (hence the trimming).
    """
    for i, step in enumerate(route):
        if tuple(step[:2]) == tuple(lane_index[:2]) or step[0] == lane_index[1]:
            return list(route[i:])
    return []
