import cv2
import numpy as np
import pytest

from tests.play.conftest import press, pump
from worldsim.cli import main
from worldsim.data.dataset import Dataset
from worldsim.data.validate import validate_dataset
from worldsim.errors import DatasetError
from worldsim.play.recorder import EpisodeWriter, label_frame
from worldsim.sources import world_class


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def test_recording_writes_a_readable_mp4_and_valid_datasets(make_session, tmp_path, capsys):
    s = make_session(side_by_side=True)
    press("f9")
    pump(s)
    assert s.recorder is not None
    press("right")
    for _ in range(6):
        pump(s)
        s.update()
    press("r")  # a reset while recording starts a second episode
    for _ in range(4):
        pump(s)
        s.update()
    assert "REC 10 frames" in s.hud_lines()[0]
    press("f9")
    pump(s)
    assert s.recorder is None
    root = tmp_path / "saves"
    videos = list(root.glob("play-*.mp4"))
    assert len(videos) == 1
    frames = read_video(videos[0])
    assert len(frames) == 10 and frames[0].shape == (64 * 4, (2 * 64 + 1) * 4, 3)  # both panes, upscaled x4
    assert list(validate_dataset(root / "dataset")) == [] and list(validate_dataset(root / "dataset-real")) == []
    assert main(["data", "validate", str(root / "dataset")]) == 0
    assert "OK" in capsys.readouterr().out
    ds = Dataset(root / "dataset")
    assert [e.num_steps for e in ds] == [6, 4]
    ep = ds.episode(0)
    assert ds.schema.names[int(ep.actions[0])] == "right" and ep.truncated[-1]
    real = Dataset(root / "dataset-real")
    assert real.num_steps == 10 and not np.array_equal(real.episode(0).frames[-1], ep.frames[-1])


def test_video_frames_show_the_action():
    frame = np.zeros((16, 16, 3), np.uint8)
    img = label_frame(frame, ["gas_left"], scale=8)
    assert img.shape == (128, 128, 3) and img[:20].max() > 200  # white text in the top band
    assert img[-40:].max() == 0


def test_episode_writer_cuts_long_episodes_and_appends_shards(tmp_path):
    schema = world_class("toy").schema
    f = np.zeros((8, 8, 3), np.uint8)
    w = EpisodeWriter(tmp_path / "d", schema, (8, 8), 30.0, "play:generated", max_episode_steps=4)
    w.begin(f)
    for i in range(10):
        w.add(i % 5, f + i, 0.5, terminated=i == 9)
    w.close()
    ds = Dataset(tmp_path / "d")
    assert [e.num_steps for e in ds] == [4, 4, 2]
    assert [bool(e.truncated[-1]) for e in ds] == [True, True, False] and bool(ds.episode(2).terminated[-1])
    np.testing.assert_array_equal(ds.episode(1).frames[0], ds.episode(0).frames[-1])  # continues where cut
    w2 = EpisodeWriter(tmp_path / "d", schema, (8, 8), 30.0, "play:generated")
    w2.begin(f)
    w2.add(1, f, 0.0, False)
    assert w2.close().name == "shard-000001.safetensors"
    assert list(validate_dataset(tmp_path / "d")) == []
    with pytest.raises(DatasetError, match="Record into another directory"):
        EpisodeWriter(tmp_path / "d", world_class("carracing").schema, (8, 8), 30.0, "play:generated")
