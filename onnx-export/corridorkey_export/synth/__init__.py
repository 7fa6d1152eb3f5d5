"""Synthetic green-screen plates with known alpha, and the coarse hints the keyer is given."""
