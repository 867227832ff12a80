"""/gen on a photo: memory of image-to-image over the loaded text-to-image pipeline (from_pipe, what the bot does)
against a second, separately loaded image-to-image pipeline.

Each way runs in a fresh child process: load the text-to-image pipeline, draw once, then redraw a photo either
through `SdxlGenerator.img2img` (the same modules) or through `AutoPipelineForImage2Image.from_pretrained` (a
second copy), and report the process's peak RSS and the bytes of distinct weight tensors held by both pipelines.

    python bench/img2img_memory.py        # the tiny test pipeline (tests/support/tiny_models.py), CPU, fp32
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def weight_bytes(*pipes) -> int:
    """Bytes of the distinct parameter and buffer storages across the pipelines' modules."""
    import torch

    seen: dict[int, int] = {}
    for pipe in pipes:
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                for tensor in [*component.parameters(), *component.buffers()]:
                    storage = tensor.untyped_storage()
                    seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def child(mode: str, checkpoint: str) -> None:
    import torch
    from diffusers import AutoPipelineForImage2Image
    from PIL import Image

    from models.base import Device
    from models.sdxl import SdxlGenerator, load_pipeline

    device = Device(torch.device("cpu"), torch.float32)
    generator = SdxlGenerator(load_pipeline(checkpoint, device), device, max_images=1, model_name="tiny")
    photo = Image.new("RGB", (256, 256), (200, 120, 40))
    generator.pipe(prompt="a fox", num_inference_steps=1, guidance_scale=0.0, height=256, width=256)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "shared":
        img2img = generator.img2img
    else:
        img2img = AutoPipelineForImage2Image.from_pretrained(checkpoint, dtype=torch.float32)
    img2img.set_progress_bar_config(disable=True)
    img2img(prompt="a fox", image=photo, strength=0.5, num_inference_steps=2, guidance_scale=0.0)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "mode": mode,
                "peak_rss_mb": after / 1024,
                "rss_growth_mb": (after - before) / 1024,
                "weights_mb": weight_bytes(generator.pipe, img2img) / 2**20,
                "text2img_weights_mb": weight_bytes(generator.pipe) / 2**20,
            }
        )
    )


def main() -> None:
    from tests.support import tiny_models

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = str(tiny_models.build_sdxl(Path(folder) / "sdxl"))
        results = {}
        for mode in ("shared", "separate", "shared", "separate"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, checkpoint], capture_output=True, text=True, check=True
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(result)
            results.setdefault(mode, []).append(result)
    shared, separate = (
        min(results["shared"], key=lambda r: r["peak_rss_mb"]),
        min(results["separate"], key=lambda r: r["peak_rss_mb"]),
    )
    print(
        f"weights held: shared {shared['weights_mb']:.1f} MB, separate {separate['weights_mb']:.1f} MB "
        f"(text2img alone {shared['text2img_weights_mb']:.1f} MB)"
    )
    print(
        f"peak RSS: shared {shared['peak_rss_mb']:.0f} MB, separate {separate['peak_rss_mb']:.0f} MB; "
        f"growth after text2img: shared {shared['rss_growth_mb']:.1f} MB, separate {separate['rss_growth_mb']:.1f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
