"""Writes dbt_project/seeds/phone_numbering_plans.csv from libphonenumber's metadata.

    python -m cdp.rules.phone_plans

Staging turns phones into E.164 in SQL (set-based, portable), reading this seed: each region's
calling code, trunk prefix and the national number lengths libphonenumber accepts as possible;
and phone_calling_code_lengths.csv, the same lengths keyed by calling code, to check numbers
written in international format.
The seed comes from the `phonenumbers` package (Google's libphonenumber metadata), so updating the
package and re-running this keeps the SQL in step with the library; tests check that SQL and the
library agree on every phone of the generated data.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneMetadata

from cdp.settings import DBT_PROJECT_DIR

SEED = DBT_PROJECT_DIR / "seeds" / "phone_numbering_plans.csv"
LENGTHS_SEED = DBT_PROJECT_DIR / "seeds" / "phone_calling_code_lengths.csv"
COLUMNS = ["country", "calling_code", "trunk_prefix", "possible_lengths", "min_length", "max_length"]


def numbering_plans() -> list[dict[str, str]]:
    """One row per region libphonenumber knows, sorted by region code."""
    rows = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = PhoneMetadata.metadata_for_region(region)
        lengths = sorted(n for n in metadata.general_desc.possible_length if n > 0)
        if not lengths:
            continue
        rows.append({
            "country": region,
            "calling_code": str(metadata.country_code),
            "trunk_prefix": metadata.national_prefix or "",
            "possible_lengths": "|".join(str(n) for n in lengths),
            "min_length": str(lengths[0]),
            "max_length": str(lengths[-1]),
        })
    return rows


def calling_code_lengths(plans: list[dict[str, str]]) -> list[str]:
    """'<calling code>:<national length>' for every length possible in some region of that code."""
    keys = {f"{p['calling_code']}:{n}" for p in plans for n in p["possible_lengths"].split("|")}
    return sorted(keys, key=lambda k: (int(k.split(":")[0]), int(k.split(":")[1])))


def write_seed(path: Path = SEED, lengths_path: Path = LENGTHS_SEED) -> int:
    rows = numbering_plans()
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with lengths_path.open("w", newline="") as handle:
        handle.write("code_and_length\n" + "".join(f"{key}\n" for key in calling_code_lengths(rows)))
    return len(rows)


if __name__ == "__main__":
    count = write_seed()
    print(f"wrote {count} numbering plans (phonenumbers {phonenumbers.__version__}) to {SEED}")
    sys.exit(0)
