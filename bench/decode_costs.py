"""What hostile and big files cost to decode: this tree against another commit (default: main), side by side.

Four measurements, each in a fresh process per tree (so peak RSS is that request's own):
* scan:    decode time of a scan-heavy progressive JPEG (36 MP, 3000 scans, ~0.6 MB);
* strip:   peak RSS of indexing preprocessing (decode, shrink, CLIP's real 224-px image processor) of a
           1×10000 PNG and of a 1×199 one (the largest ratio still accepted);
* photo:   peak RSS of one request on a 36 MP JPEG: decoded for the command, and for its indexing;
* caption: a plain /caption's latency (real Application, fake Bot API, tiny BLIP and CLIP) while six 36 MP
           scan-heavy JPEGs sent without a command are being indexed, and with nothing else going on.
The other tree is `git archive`d into a temp folder and put first on sys.path of its processes.
Run: .venv/bin/python bench/decode_costs.py [--before main] [--only scan,strip,photo,caption]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAP = 40_000_000
sys.path.insert(0, str(ROOT / "bench"))
from _common import machine  # date, CPU model and load average next to every table; sets HF_HUB_OFFLINE=1

# -- inputs (built once, by the parent) -----------------------------------------------------------------


def build_inputs(folder: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from tests.support.chat import photo_bytes
    from tests.support.hostile_images import encode, many_scan_jpeg, strip_png

    (folder / "scan.jpg").write_bytes(many_scan_jpeg(3000, (6000, 6000)))
    (folder / "scan_small.jpg").write_bytes(many_scan_jpeg(3000, (2000, 2000)))
    (folder / "strip.png").write_bytes(strip_png(1, 10_000))
    (folder / "strip199.png").write_bytes(strip_png(1, 199))
    r, g = Image.linear_gradient("L").resize((7360, 4912)), Image.radial_gradient("L").resize((7360, 4912))
    photo = Image.merge("RGB", (r, g, Image.effect_noise((7360, 4912), 30)))
    (folder / "photo36.jpg").write_bytes(encode(photo, "JPEG", quality=85))
    (folder / "plain.jpg").write_bytes(photo_bytes(5, size=(640, 480)))


# -- measurements (each run in a child process, with one tree first on sys.path) ------------------------


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure_scan(folder: Path) -> dict:
    from bot.errors import BadImage

    decode_image = images_module().decode_image

    out = {}
    for name in ("scan_small.jpg", "scan.jpg"):
        data = (folder / name).read_bytes()
        started, outcome = time.perf_counter(), "decoded"
        try:
            decode_image(data, CAP)
        except BadImage as exc:
            outcome = f"refused: {exc}"
        out[name] = {"seconds": round(time.perf_counter() - started, 3), "outcome": outcome, "bytes": len(data)}
    return out


def images_module():
    """The tree's image decoding module: bot.imaging.decode, or bot.images in trees before the move."""
    import importlib

    try:
        return importlib.import_module("bot.imaging.decode")
    except ImportError:
        return importlib.import_module("bot.images")


def _embedding_preprocess():
    """What indexing does to a file before the model: the tree's own functions, then CLIP's processor."""
    from transformers import CLIPImageProcessor

    images = images_module()
    processor = CLIPImageProcessor()  # openai/clip-vit-* defaults: short side to 224, centre crop 224

    def run(data: bytes):
        if hasattr(images, "decode_for_embedding"):
            picture = images.decode_for_embedding(data, CAP)
        else:
            picture = images.shrink_for_embedding(images.decode_image(data, CAP))
        return processor(images=[picture], return_tensors="np")["pixel_values"].shape

    return run


def measure_strip(folder: Path) -> dict:
    from bot.errors import BadImage

    run = _embedding_preprocess()
    run((folder / "plain.jpg").read_bytes())  # warm up
    out = {}
    for name in ("strip.png", "strip199.png"):
        data = (folder / name).read_bytes()
        before = rss_kb()
        reset_peak()
        started, outcome = time.perf_counter(), "embedded"
        try:
            run(data)
        except BadImage as exc:
            outcome = f"refused: {exc}"
        out[name] = {
            "peak_mb": round((peak_kb() - before) / 1024, 1),
            "seconds": round(time.perf_counter() - started, 2),
            "outcome": outcome,
        }
    return out


def measure_photo(folder: Path) -> dict:
    """One message: the command's decode held (it goes to the model) while indexing decodes the file too."""
    data = (folder / "photo36.jpg").read_bytes()
    before = rss_kb()
    reset_peak()
    started = time.perf_counter()
    try:
        from bot.imaging.decoding import ImageDecoder
    except ImportError:  # an older tree: two decodes at full size
        images = images_module()
        decode_image, shrink_for_embedding = images.decode_image, images.shrink_for_embedding
        command = decode_image(data, CAP)
        embedded = shrink_for_embedding(decode_image(data, CAP))
    else:

        async def request():
            decoder = ImageDecoder(CAP)
            try:
                return await asyncio.gather(decoder.for_command((1, "f"), data), decoder.for_embedding((1, "f"), data))
            finally:
                decoder.close()

        command, embedded = asyncio.run(request())
    return {
        "peak_mb": round((peak_kb() - before) / 1024, 1),
        "seconds": round(time.perf_counter() - started, 2),
        "command_image": command.size,
        "embedded_image": embedded.size,
        "file_mb": round(len(data) / 2**20, 1),
    }


def measure_caption(folder: Path) -> dict:
    return asyncio.run(_caption_latency(folder))


async def _caption_latency(folder: Path) -> dict:
    from bot.app import build_application
    from bot.settings import Settings
    from tests.support.bot_process import TOKEN
    from tests.support.fake_telegram import FakeTelegram
    from tests.support.tiny_models import build_blip_caption, build_clip

    models = Path(tempfile.mkdtemp(prefix="bench-decode-"))
    blip, clip = build_blip_caption(models / "blip"), build_clip(models / "clip")
    tg = FakeTelegram(TOKEN).start()
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url,
        data_dir=models / "data",
        caption_model=str(blip),
        clip_model=str(clip),
        device="cpu",
    )
    application = build_application(settings)
    heavy, plain = (folder / "scan.jpg").read_bytes(), (folder / "plain.jpg").read_bytes()

    async def caption_latency(chat, user, seed: int) -> float:
        sent = time.perf_counter()
        request = tg.send_message(
            chat,
            user,
            document=plain + bytes([seed]),
            document_mime="image/jpeg",
            document_name="p.jpg",
            caption="/caption",
        )
        while True:
            answers = [
                m
                for m in tg.bot_messages(chat["id"])
                if m.get("reply_to_message", {}).get("message_id") == request["message_id"]
                and not (m.get("text") or "").startswith(("⏳", "⚙️"))
            ]
            if answers:
                return time.perf_counter() - sent
            await asyncio.sleep(0.005)

    async with application:
        await application.post_init(application)
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        asker = tg.user(2, "Asker")
        asker_chat = tg.private_chat(asker)
        await caption_latency(asker_chat, asker, 0)  # models loaded
        quiet = [await caption_latency(asker_chat, asker, i) for i in range(1, 4)]
        poster = tg.user(1, "Poster")
        poster_chat = tg.private_chat(poster)
        for i in range(6):  # sent "as file", no command: only indexing reads them
            tg.send_message(
                poster_chat, poster, document=heavy + bytes([i]), document_mime="image/jpeg", document_name=f"h{i}.jpg"
            )
        await asyncio.sleep(0.5)  # their downloads and decodes have started
        busy = [await caption_latency(asker_chat, asker, 10 + i) for i in range(3)]
        await application.updater.stop()
        await application.stop()
        await application.post_shutdown(application)
    tg.stop()
    return {"quiet_s": [round(v, 3) for v in quiet], "while_indexing_s": [round(v, 3) for v in busy]}


MEASUREMENTS = {"scan": measure_scan, "strip": measure_strip, "photo": measure_photo, "caption": measure_caption}


# -- driver ---------------------------------------------------------------------------------------------


def export(commit: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="bench-tree-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    # The inputs and the fake Telegram come from this tree's test support, whatever the other tree has.
    support = target / "tests" / "support"
    for name in ("hostile_images.py", "chat.py", "fake_telegram.py", "tiny_models.py", "bot_process.py"):
        (support / name).write_bytes((ROOT / "tests" / "support" / name).read_bytes())
    return target


def child(tree: Path, what: str, folder: Path) -> dict:
    code = (
        f"import sys, json; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(ROOT / 'bench')!r});"
        f"import decode_costs as b; from pathlib import Path;"
        f"print(json.dumps(b.MEASUREMENTS[{what!r}](Path({str(folder)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the commit to compare with (default: main)")
    parser.add_argument("--only", default=",".join(MEASUREMENTS))
    args = parser.parse_args()
    print(machine("start"), flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-inputs-"))
    build_inputs(folder)
    trees = {f"before ({args.before})": export(args.before), "after (this tree)": ROOT}
    for what in args.only.split(","):
        print(f"== {what}")
        for label, tree in trees.items():
            print(f"  {label:<22} {json.dumps(child(tree, what, folder), ensure_ascii=False)}", flush=True)
    print(machine("end"))


if __name__ == "__main__":
    main()
