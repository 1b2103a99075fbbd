"""The reliability and security battery: bounded in `make test`, larger under `make soak`.

`TANDEM_BATTERY_SCALE` multiplies every run's size (1 by default; `make soak` sets it higher) and
`TANDEM_BATTERY_SEED` fixes its random choices, so a failing run can be replayed exactly.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("TANDEM_BATTERY_SCALE", "1"))
SEED = int(os.environ.get("TANDEM_BATTERY_SEED", "20261203"))
