"""Conversations and their transcripts: what every channel's dialogue writes, what staff read and answer."""
