"""scripts/gpu_check.py: the GPU run's plumbing, checked on the CPU (its GPU rows need a GPU)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_imports_without_the_simulators_and_writes_its_report(tmp_path):
    # The lent GPU machine has torch but not gymnasium, pygame, box2d or torch-tensorrt: block them and run.
    out = tmp_path / "gpu.json"
    code = (
        "import sys\n"
        "for m in ('gymnasium', 'pygame', 'Box2D', 'torch_tensorrt', 'vizdoom', 'ale_py', 'highway_env'):\n"
        "    sys.modules[m] = None\n"
        f"sys.argv = ['gpu_check', '--device', 'cpu', '--worlds', 'tiny', '--batch', '1,2', '--backend', 'eager',"
        f" '--frames', '3', '--parity-frames', '2', '--out', {str(out)!r}]\n"
        f"sys.path.insert(0, {str(ROOT / 'scripts')!r})\n"
        "import gpu_check\n"
        "sys.exit(gpu_check.main())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["batch"] for r in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["fps"] > 0 and row["ms_p99"] >= row["ms_p50"] > 0
        assert row["parity"]["identical_frames"] == 1.0  # eager against eager: the same frames


def test_gpu_check_refuses_cuda_where_there_is_none(tmp_path, capsys, load_script):
    import torch

    if torch.cuda.is_available():
        return
    assert load_script("gpu_check").main(["--out", str(tmp_path / "g.json")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
