import subprocess
import sys

import cv2
import numpy as np
import pytest

from worldsim.data import Dataset, validate_dataset
from worldsim.data.importer import import_recordings
from worldsim.errors import DatasetError
from worldsim.sources import make_world


def _record(tmp_path, n=40, name="rec", episode_break=None):
    """A real recording: toy frames written to an mp4 plus its action CSV."""
    world = make_world("toy", height=64, width=64, hazard_speed=0.0)
    rng = np.random.default_rng(0)
    frames, actions = [world.reset(seed=1)], []
    for _ in range(n - 1):
        a = int(rng.integers(5))
        actions.append(a)
        frames.append(world.step(a).frame)
    actions.append(0)  # the last frame's row: its action is never applied
    video = tmp_path / f"{name}.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    names = world.schema.names
    lines = ["frame,action,reward,episode"]
    for i, a in enumerate(actions):
        ep = 0 if episode_break is None or i < episode_break else 1
        lines.append(f"{i},{names[a]},{0.5 if i == 3 else 0},{ep}")
    (tmp_path / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return video, np.stack(frames), np.array(actions)


def test_mp4_and_csv_round_trip(tmp_path):
    video, frames, actions = _record(tmp_path)
    added = import_recordings([video], tmp_path / "ds", world_name="mygame", progress=False)
    assert added == len(frames) - 1
    assert list(validate_dataset(tmp_path / "ds")) == []
    ds = Dataset(tmp_path / "ds")
    ep = ds.episode(0)
    assert ep.frames.shape == frames.shape
    # mp4 is lossy: close, not equal
    assert np.abs(ep.frames.astype(int) - frames.astype(int)).mean() < 8
    names = ["noop", "down", "left", "right", "up"]  # inferred: noop first, then alphabetical
    assert ds.schema.names == names
    assert [names[a] for a in ep.actions] == [make_world("toy").schema.names[a] for a in actions[:-1]]
    assert ep.rewards[3] == 0.5


def test_episode_column_splits_and_reimport_is_skipped(tmp_path):
    video, frames, _ = _record(tmp_path, n=30, episode_break=12)
    schema = make_world("toy").schema
    import_recordings([video], tmp_path / "ds", schema=schema, progress=False)
    ds = Dataset(tmp_path / "ds")
    assert [len(e.frames) for e in ds] == [12, 18]
    assert import_recordings([video], tmp_path / "ds", schema=schema, progress=False) == 0


def test_bad_csv_errors_name_file_and_line(tmp_path):
    video, _, _ = _record(tmp_path, n=10)
    csv = tmp_path / "rec.csv"
    lines = csv.read_text().splitlines()
    lines[4] = "3,jump,0,0"
    csv.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match=r"rec.csv:5: unknown action for world 'toy' 'jump'"):
        import_recordings([video], tmp_path / "ds", schema=make_world("toy").schema, progress=False)
    csv.write_text("\n".join(lines[:4]))
    with pytest.raises(DatasetError, match=r"rec.csv: has 3 rows but .*rec.mp4 has 10 frames"):
        import_recordings([video], tmp_path / "ds2", world_name="g", progress=False)


@pytest.mark.parametrize(
    ("row", "problem"),
    [("3,up,nan,0", "reward 'nan' is not a finite number"), ("3,up,0,7", "terminated must be 0 or 1"),
     ("x,up,0,0", "frame 'x' out of order")],
)  # fmt: skip
def test_import_refuses_values_a_dataset_cannot_hold(tmp_path, row, problem):
    video, _, _ = _record(tmp_path, n=10)
    csv = tmp_path / "rec.csv"
    lines = csv.read_text().splitlines()
    lines[0], lines[4] = "frame,action,reward,terminated", row  # the fourth column holds termination flags here
    csv.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match=rf"rec.csv:5: {problem}"):
        import_recordings([video], tmp_path / "ds", schema=make_world("toy").schema, progress=False)
    csv.write_bytes(bytes(range(256)))
    with pytest.raises(DatasetError, match="not a UTF-8 CSV"):
        import_recordings([video], tmp_path / "ds", schema=make_world("toy").schema, progress=False)


def test_cli_import(tmp_path):
    video, frames, _ = _record(tmp_path, n=20)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "worldsim",
            "data",
            "import",
            str(video),
            "--world",
            "toy",
            "--out",
            str(tmp_path / "ds"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "imported 19 steps" in r.stdout
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "worldsim",
            "data",
            "import",
            str(tmp_path / "nope.mp4"),
            "--world",
            "toy",
            "--out",
            str(tmp_path / "ds3"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "nope.csv: action CSV not found" in r.stderr and "Traceback" not in r.stderr


def test_a_failed_first_import_leaves_no_dataset_behind(tmp_path):
    video, _, _ = _record(tmp_path, n=10)
    csv = tmp_path / "rec.csv"
    csv.write_text("\n".join(csv.read_text().splitlines()[:4]))  # 3 rows for 10 frames
    out = tmp_path / "ds"
    with pytest.raises(DatasetError, match="has 3 rows"):
        import_recordings([video], out, schema=make_world("toy").schema, progress=False)
    assert not out.exists()
