"""Training the compact GreenFormer on synthetic plates (resumable, time-boxed chunks)."""
