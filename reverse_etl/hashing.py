"""Ad-platform identifier normalisation and SHA-256 hashing, as SQL expressions run inside DuckDB.

Match rates live or die by normalising exactly as the platform does before hashing. The rules:

Google Customer Match (Google Ads API / Display & Video 360 "prepare user data"):
  email  trim, lowercase, remove whitespace; for gmail.com and googlemail.com also remove every '.'
         before the '@' (Google's enhanced-conversions normalisation)
  phone  E.164: '+', country code, national number, digits only (e.g. +12125650000)
  names  trim, lowercase, remove whitespace
  country two-letter code, upper case, NOT hashed
  postal code as written, trimmed, NOT hashed (sent only inside a full address: first and last name,
         country, postal code)
Meta custom audiences (Marketing API "hashing and normalizing data"):
  email  trim, lowercase (dots and '+' tags are kept)
  phone  digits only with country code, no '+', no leading zeros (e.g. 16169547888)
  names  lowercase, no punctuation or spaces, UTF-8
  country two-letter code, lower case, hashed
  zip    lower case, no spaces or dashes; a US ZIP+4 (12345-6789) keeps its first five digits; hashed

Every hash is lower-case hex of SHA-256 over the UTF-8 bytes (DuckDB's `sha256()` equals hashlib's).
Empty values hash to NULL, never to the hash of the empty string.
"""

from __future__ import annotations

PLATFORMS = ("google", "meta")


def _nullif_empty(expr: str) -> str:
    return f"nullif({expr}, '')"


def normalized_email(platform: str, column: str) -> str:
    base = f"lower(trim({column}))"
    if platform == "meta":
        return _nullif_empty(base)
    squeezed = f"regexp_replace({base}, '\\s+', '', 'g')"
    local, domain = f"split_part({squeezed}, '@', 1)", f"split_part({squeezed}, '@', 2)"
    return _nullif_empty(
        f"case when {domain} in ('gmail.com', 'googlemail.com') "
        f"then replace({local}, '.', '') || '@' || {domain} else {squeezed} end")


def normalized_phone(platform: str, column: str) -> str:
    digits = f"ltrim(regexp_replace({column}, '[^0-9]', '', 'g'), '0')"
    return _nullif_empty(digits) if platform == "meta" else f"'+' || {_nullif_empty(digits)}"


def normalized_name(platform: str, column: str) -> str:
    if platform == "meta":
        return _nullif_empty(f"regexp_replace(lower(trim({column})), '[[:punct:][:space:]]', '', 'g')")
    return _nullif_empty(f"regexp_replace(lower(trim({column})), '\\s+', '', 'g')")


def normalized_country(platform: str, column: str) -> str:
    code = f"trim({column})"
    return _nullif_empty(f"lower({code})" if platform == "meta" else f"upper({code})")


def normalized_postal_code(platform: str, column: str) -> str:
    code = f"trim({column})"
    if platform == "google":
        return _nullif_empty(code)
    zip_plus_four = f"regexp_matches({code}, '^[0-9]{{5}}-?[0-9]{{4}}$')"
    squeezed = f"regexp_replace(lower({code}), '[\\s-]', '', 'g')"
    return _nullif_empty(f"case when {zip_plus_four} then left({code}, 5) else {squeezed} end")


def sha256_hex(expr: str) -> str:
    return f"case when ({expr}) is null then null else sha256({expr}) end"


#: identifier kind -> (normaliser, hashed for google, hashed for meta)
IDENTIFIER_KINDS = {
    "email": (normalized_email, True, True),
    "phone": (normalized_phone, True, True),
    "first_name": (normalized_name, True, True),
    "last_name": (normalized_name, True, True),
    "country": (normalized_country, False, True),
    "postal_code": (normalized_postal_code, False, True),
}


def identifier_expression(platform: str, kind: str, column: str) -> str:
    """The SQL giving what `platform` expects for identifier `kind` read from `column`."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown ad platform {platform!r}; known: {PLATFORMS}")
    if kind not in IDENTIFIER_KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}; known: {sorted(IDENTIFIER_KINDS)}")
    normaliser, hashed_google, hashed_meta = IDENTIFIER_KINDS[kind]
    expr = normaliser(platform, column)
    hashed = hashed_google if platform == "google" else hashed_meta
    return sha256_hex(expr) if hashed else expr
