"""Frame sheet of one long free-running rollout per step count: frames 0, 500, 1000, 2000 and 2999 side by side.

python scripts/long_rollout_sheet.py          # writes docs/img/long-rollout-carracing-steps.png
"""

import cv2
import numpy as np

from worldsim.actions import action_stream
from worldsim.runtime import use_generation_threads
from worldsim.sampling.simulator import Simulator

KEEP = (0, 500, 1000, 2000, 2999)


def main() -> None:
    use_generation_threads()
    rows = []
    for steps in (1, 2):  # one row per step count: the shipped world at 1 and 2 denoising steps
        sim = Simulator.load("carracing", device="cpu", backend="onnx", sampling={"steps": steps}, seed=0)
        sim.reset_from_starts(seed=0)
        shown = []
        for t, a in enumerate(action_stream(KEEP[-1] + 1, len(sim.schema), 8, 0)):
            frame = sim.step(int(a)).frames[0]
            if t in KEEP:
                shown.append(cv2.resize(frame, (192, 192), interpolation=cv2.INTER_NEAREST))
        rows.append(np.concatenate(shown, 1))
    sheet = np.concatenate(rows, 0)
    cv2.imwrite("docs/img/long-rollout-carracing-steps.png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
