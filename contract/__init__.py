"""The worker contract: what the bot sends a model worker, what comes back, and how a worker says it failed.

Torch-free and bot-free, so the bot process, the local worker thread and Ray replicas share it; models/ builds on
it and on the bot's settings only.
"""
