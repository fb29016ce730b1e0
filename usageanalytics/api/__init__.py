"""Typed REST clients for SmartKarrot's non-tracking endpoints (work in progress)."""
