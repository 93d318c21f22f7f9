"""
Write pip constraints pinning every dependency setup.cfg declares to its
declared minimum (install_requires and the test extra), so the suite can
run against exactly those versions: pip has no --resolution=lowest.

    python .ci/min_constraints.py OUT [setup.cfg]
"""

import configparser
import re
import sys

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def minimums(setup_cfg):
    """``name==version`` for each requirement with a ``>=`` lower bound."""
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    lines = config["options"]["install_requires"].splitlines()
    lines += config["options.extras_require"]["test"].splitlines()
    pins = []
    for line in filter(None, (line.strip() for line in lines)):
        match = _REQUIREMENT.match(line)
        if match is None:
            raise SystemExit("{}: no '>=' lower bound in {!r}".format(setup_cfg, line))
        pins.append("{}=={}".format(match.group(1), match.group(3)))
    return pins


def main(argv):
    out = argv[1]
    setup_cfg = argv[2] if len(argv) > 2 else "setup.cfg"
    with open(out, "w") as f:
        f.write("\n".join(minimums(setup_cfg)) + "\n")


if __name__ == "__main__":
    main(sys.argv)
