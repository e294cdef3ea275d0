"""Turn a play video (``out/demo.mp4`` from ``make demo``) into the README's animated GIF.

python scripts/video_to_gif.py out/demo.mp4 docs/img/demo.gif --every 2 --width 192
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
from PIL import Image


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video")
    p.add_argument("gif")
    p.add_argument("--every", type=int, default=2, help="keep every N-th frame")
    p.add_argument("--width", type=int, default=192, help="GIF width in pixels")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of the video (the GIF plays at it / every)")
    args = p.parse_args(argv)

    cap = cv2.VideoCapture(args.video)
    frames = []
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % args.every == 0:
            h, w = bgr.shape[:2]
            small = cv2.resize(bgr, (args.width, round(h * args.width / w)), interpolation=cv2.INTER_AREA)
            frames.append(Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)))
        i += 1
    if not frames:
        print(
            f"error: {args.video}: no frames could be read; check the path (make demo writes out/demo.mp4)",
            file=sys.stderr,
        )
        return 2
    Path(args.gif).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.gif + ".tmp")
    frames[0].save(
        tmp, format="GIF", save_all=True, append_images=frames[1:], duration=1000 * args.every / args.fps, loop=0
    )
    tmp.replace(args.gif)
    print(f"wrote {args.gif}: {len(frames)} frames, {Path(args.gif).stat().st_size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
