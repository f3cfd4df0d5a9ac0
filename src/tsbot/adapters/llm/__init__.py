"""Language-model adapters: OpenAI-compatible chat endpoints behind :class:`tsbot.intake.fallback.ChatModel`."""
