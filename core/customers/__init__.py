"""Identities (a Telegram chat, a web chat session) and the utility accounts they are bound to."""
