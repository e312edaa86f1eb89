"""Parity with podman 4.3: ``system df``, ``system prune``, ``system reset`` (see tests/parity.py)."""
from __future__ import annotations

from parity import Case, parity_fixtures

DF = ("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE")
VERBOSE = (r"\AImages space usage:\n\nREPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS\n"
           r"(.*\n)+\nContainers space usage:\n\nCONTAINER ID +IMAGE +COMMAND +LOCAL VOLUMES +SIZE +CREATED +STATUS +NAMES\n"
           r"[0-9a-f]{12} +[0-9a-f]{12} +true +1 +\S+ +.+ +created +pc\n"
           r"\nLocal Volumes space usage:\n\nVOLUME NAME +LINKS +SIZE\npvu +1 +\S+\n\Z")

CASES = [
    Case("df", "system df", header=DF, lines=4, stdout=r"^Images +1 +0 +\S+ +\S+ \(\d+%\)$"),
    Case("df-rows", "system df", setup=("create --name pc -v pvu:/d {image} true",),
         stdout=r"^Containers +1 +0 +\S+ +\S+ \(\d+%\)\nLocal Volumes +1 +1 "),
    Case("df-format", "system df --format '{{.Type}}={{.Total}}'", stdout=r"\AImages=1\nContainers=0\nLocal Volumes=0\n\Z"),
    Case("df-verbose", "system df -v", setup=("create --name pc -v pvu:/d {image} true",), stdout=VERBOSE),
    Case("df-verbose-long", "system df --verbose", stdout=r"^Local Volumes space usage:$"),
    Case("prune", "system prune -f", setup=("create --name pc {image} true",), stdout=r"^Deleted Containers\n[0-9a-f]{64}$"),
    Case("prune-reclaimed", "system prune -f", setup=("create --name pc {image} true",),
         stdout=r"\nTotal reclaimed space: \d+(\.\d+)?[kMG]?B\n\Z"),
    Case("prune-reclaimed-nothing", "system prune -f", stdout=r"\ATotal reclaimed space: 0B\n\Z"),
    Case("prune-left", "ps -a -q", setup=("create --name pc {image} true", "system prune -f"), stdout=r"\A\Z"),
    Case("prune-filter-label", "ps -a --format '{{.Names}}'",
         setup=("create --name pa --label k=v {image} true", "create --name pb {image} true", "system prune -f --filter label=k=v"),
         stdout=r"\Apb\n\Z"),
    Case("prune-filter-not-label", "ps -a --format '{{.Names}}'",
         setup=("create --name pa --label k=v {image} true", "create --name pb {image} true", "system prune -f --filter label!=k=v"),
         stdout=r"\Apa\n\Z"),
    Case("prune-filter-until", "ps -a --format '{{.Names}}'",
         setup=("create --name pa {image} true", "system prune -f --filter until=2020-01-01"), stdout=r"\Apa\n\Z"),
    Case("prune-filter-bad", "system prune -f --filter bogus=1", code=125, stderr=r"^Error: bogus is an invalid filter"),
    Case("prune-volumes", "system prune -f --volumes", setup=("volume create pv1",), stdout=r"^Deleted Volumes\npv1$"),
    Case("prune-keeps-volumes", "volume ls -q", setup=("volume create pv1", "system prune -f"), stdout=r"\Apv1\n\Z"),
    Case("prune-all", "images -q", setup=("system prune -f --all",), stdout=r"\A\Z"),
    Case("prune-prompt", "system prune", input="n\n", stdout=r"\AWARNING! This command removes:\n\t- all stopped containers\n"),
    Case("reset-prompt", "system reset", input="n\n", stdout=r'\AWARNING! This will remove:\n(.*\n)*.*the graphRoot directory: "'),
]

store, podman_store, test_parity = parity_fixtures("system", CASES)
