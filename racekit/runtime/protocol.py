"""What the parent and a worker process share besides the channel: the marker file.

The marker names the trial the worker runs now, so that the parent can blame
the right one when the worker dies (results travel in batches), and carries
the worker's beat and its budget, so that the parent can stop a trial that
outlasts it (racekit.runtime.pool). Both sides read these layouts from here.
"""

from __future__ import annotations

import struct

# Seconds the hard stop grants beyond a trial's own timeout before the parent
# dumps every stack and ends the worker.
HARD_STOP_GRACE = 2.0
# Results are sent when this many are ready, or when the oldest waited this long.
BATCH_SIZE = 32
BATCH_DELAY = 0.05
MARKER = struct.Struct("<qq")  # (job key, trial index) running now; key -1: none
BEAT = struct.Struct("<qd")  # after MARKER: (beat, budget in seconds); each trial or schedule beats once
MARKER_FILE_SIZE = MARKER.size + BEAT.size
