"""The `odradek mirror-maker` process: parse arguments, start MirrorMaker, wait for SIGTERM/SIGINT, stop."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from odradek.connect.api.errors import ConnectException
from odradek.connect.config.configdef import ConfigException
from odradek.connect.config.properties import load_properties
from odradek.connect.runtime import tracing
from odradek.connect.runtime.gil import SwitchIntervalError, configure_switch_interval
from odradek.mirror.maker import MirrorMaker, MirrorMakerConfig, MirrorMakerConfigError

LOG_FORMAT = "[%(asctime)s] %(levelname)s %(message)s (%(name)s)"


def mirror_maker_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="odradek mirror-maker", description="MirrorMaker 2, dedicated mode.")
    parser.add_argument("config")
    parser.add_argument("--clusters", nargs="+")
    parser.add_argument("--offsets-dir")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    tracing.configure_from_environment("odradek-mirror-maker")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    maker: MirrorMaker | None = None
    try:
        configure_switch_interval(os.environ)
        config = MirrorMakerConfig(load_properties(args.config))
        offsets_dir = Path(args.offsets_dir) if args.offsets_dir else Path(args.config).resolve().parent
        maker = MirrorMaker(config, args.clusters, offsets_dir)
        maker.start()
        while not stop.wait(1.0):
            pass
        return 0
    except (MirrorMakerConfigError, ConfigException, ConnectException, OSError, SwitchIntervalError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    finally:
        if maker is not None:
            maker.stop()


if __name__ == "__main__":
    sys.exit(mirror_maker_main(sys.argv[1:]))
