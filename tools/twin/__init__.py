"""The local twin: the parts that play AWS around the emulator."""
