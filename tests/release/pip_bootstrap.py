# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the get-pip.py script that ansible-test fetches to put pip into its sanity virtual environments.

ansible-test downloads that script from its own file host, which is not a
package index and is out of reach where the release checks run. It runs the
script with the arguments of a pip install; this does the same with the pip
that Python bundles (ensurepip) and the configured package index.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip.py options that are not pip options: the bundled pip brings neither package anyway.
OWN_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    """Install pip, then the packages named on the command line, into this interpreter's environment."""
    # ensurepip points PIP_CONFIG_FILE at /dev/null for good; the install below needs the machine's pip settings.
    environment = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    arguments = [argument for argument in sys.argv[1:] if argument not in OWN_OPTIONS]
    subprocess.run([sys.executable, "-m", "pip", "install", "--upgrade"] + arguments, check=True, env=environment)


if __name__ == "__main__":
    main()
