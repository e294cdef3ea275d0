import json

from worldsim.actions import action_stream
from worldsim.cli import main
from worldsim.sampling.bench import BenchConfig, format_rows, run_bench


def test_action_stream_holds_keys():
    a = action_stream(200, 5, hold_mean=8, seed=0)
    changes = (a[1:] != a[:-1]).mean()
    assert len(a) == 200 and set(a) <= set(range(5)) and 0.02 < changes < 0.3


def test_bench_measures_against_naive(tmp_path):
    cfg = BenchConfig(preset="tiny", backends=("eager", "tensorrt"), steps=(1, 2), lookahead=(0, 1), frames=4,
                      warmup=2, naive_frames=2, device="cpu")  # fmt: skip
    report = run_bench(cfg)
    rows = [r for r in report["rows"] if "fps" in r]
    assert len(rows) == 4 and all(r["fps"] > 0 and r["speedup_vs_naive"] > 0 for r in rows)
    assert all("acceptance" in r for r in rows if r["lookahead"])
    assert any("skipped" in r and "NVIDIA GPU" in r["skipped"] for r in report["rows"])
    assert "naive" in format_rows(report)
    # stages, FLOPs and the machine's ceiling come with every row
    assert all(r["model_ms"] > 0 and r["decode_ms"] > 0 and r["gflops"] > 0 for r in rows)
    flops = report["gflop_per_frame"]
    assert flops["2"]["model"] > flops["1"]["model"] > 0 and flops["1"]["decode"] == flops["2"]["decode"] > 0
    assert report["matmul_peak_gflops"]["fp32"] > 0 and report["machine"]["cores"] >= 1


def test_bench_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    args = ["bench", "--preset", "tiny", "--backends", "eager", "--steps", "1,2", "--frames", "3", "--device", "cpu",
            "--out", str(out), "naive_frames=2", "warmup=1", "lookahead=0"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["backend"] == "eager" and sorted(r["steps"] for r in rows) == [1, 2]
    assert "vs naive" in capsys.readouterr().out


def test_bench_play_loop_row_and_load(tiny_world, tmp_path):
    out = tmp_path / "b.json"
    args = ["bench", str(tiny_world / "world.safetensors"), "--backends", "eager", "--steps", "1", "--frames", "3",
            "--device", "cpu", "--load", "1", "--out", str(out), "naive_frames=2", "warmup=1",
            "lookahead=0"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["load"] == 1 and report["play"]["frames"] == 9 and report["play"]["fps_mean"] > 0
