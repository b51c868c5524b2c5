"""Planned-outage notices: the outbox of deliveries, its dispatcher and rate limits, channels, confirmations."""
