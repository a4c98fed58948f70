"""A small library with thread-using code, as a racekit user would have one."""
