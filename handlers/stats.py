"""/stats (admins): queue length per task, loaded models, device memory, jobs served and failed."""

from __future__ import annotations

from telegram import Update

from bot.commands import Command
from bot.context import BotContext
from bot.replies import reply


def stats_text(queue_stats, backend_stats: dict) -> str:
    """The /stats message for a queue and backend snapshot."""
    waiting = queue_stats.waiting
    per_task = ", ".join(f"{task} {n}" for task, n in sorted(waiting.items()))
    lines = [
        "📊 Bot status",
        f"Queue: {sum(waiting.values())} waiting{f' ({per_task})' if per_task else ''}, {queue_stats.running} running",
        f"Jobs: {queue_stats.served} served, {queue_stats.failed} failed",
        f"Photo indexing: {queue_stats.background} waiting, {queue_stats.indexed} done, "
        f"{queue_stats.index_failed} failed",
    ]
    device = backend_stats.get("device", "not started")
    loaded = backend_stats.get("loaded", {})
    if loaded:
        lines.append(f"Models on {device}:")
        lines += [f"  {task}: {m['source']} ({m['mb']} MB, idle {m['idle_s']} s)" for task, m in loaded.items()]
    else:
        lines.append(f"Models on {device}: none loaded")
    memory = backend_stats.get("memory", {})
    if memory:
        lines.append("Memory: " + ", ".join(f"{k.removesuffix('_mb')} {v} MB" for k, v in memory.items()))
    if "loads" in backend_stats:
        lines.append(f"Model loads: {backend_stats['loads']}, unloads: {backend_stats['unloads']}")
    return "\n".join(lines)


async def stats(update: Update, context: BotContext) -> None:
    """Show what the bot is doing and holding."""
    services = context.services
    await reply(update.effective_message, stats_text(services.queue.stats(), services.backend.stats()))


COMMAND = Command("stats", "Queue, models and memory", "/stats", stats, admin_only=True)
