"""The vocabulary the sample-data generator draws from: channels, countries, names, job titles.

Channel names are those of the shipped channel rules (GA4's default channel group, plus our
webinar channel), and each channel's UTM values classify into it. The channel table is also the
generator's planted ground truth: how often each channel starts a
session and how much touching it lifts a person's chance to buy. Attribution accuracy is scored
against these numbers later, so they are written to `ground_truth/channel_effects.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    name: str
    session_weight: float  # relative share of sessions that start from this channel
    conversion_lift: float  # P(buy) contributed by having touched it (noisy-OR)
    utm_sources: tuple[str, ...]  # empty: the channel carries no UTM tags
    utm_mediums: tuple[str, ...]
    referrers: tuple[str, ...]  # empty: no referrer (typed URL, app, email client)
    daily_spend: float  # 0 for unpaid channels; scaled by people/10k in ad_spend


CHANNELS: tuple[Channel, ...] = (
    Channel("paid_search", 0.16, 0.050, ("google", "bing"), ("cpc", "ppc", "paidsearch"),
            ("https://www.google.com/", "https://www.bing.com/"), 900.0),
    Channel("organic_search", 0.18, 0.020, (), (),
            ("https://www.google.com/", "https://duckduckgo.com/", "https://www.bing.com/search?q=x"), 0.0),
    Channel("paid_social", 0.10, 0.030, ("facebook", "instagram", "linkedin"), ("paid_social", "cpc", "paid"),
            ("https://m.facebook.com/", "https://www.instagram.com/", "https://www.linkedin.com/"), 700.0),
    Channel("organic_social", 0.07, 0.008, (), (),
            ("https://t.co/abc", "https://www.linkedin.com/feed/", "https://www.reddit.com/r/marketing/"), 0.0),
    Channel("email", 0.10, 0.060, ("newsletter", "hubspot", "braze"), ("email", "e-mail", "Email"), (), 120.0),
    Channel("display", 0.07, 0.004, ("gdn", "criteo", "adroll"), ("display", "banner", "cpm"),
            ("https://ads.example-network.com/",), 500.0),
    Channel("affiliates", 0.04, 0.035, ("rakuten", "awin", "impact"), ("affiliate",),
            ("https://deals.example-affiliate.com/",), 250.0),
    Channel("referral", 0.06, 0.015, (), (),
            ("https://blog.example-partner.org/post", "https://www.g2.com/products/x", "https://medium.com/x"),
            0.0),
    Channel("direct", 0.12, 0.010, (), (), (), 0.0),
    Channel("paid_video", 0.04, 0.006, ("youtube", "vimeo"), ("cpv", "paid_video"), ("https://www.youtube.com/",),
            350.0),
    Channel("sms", 0.03, 0.045, ("attentive", "twilio"), ("sms", "SMS"), (), 80.0),
    Channel("webinar", 0.03, 0.070, ("on24", "zoom"), ("webinar", "Webinar"), (), 150.0),
)

BASE_CONVERSION_RATE = 0.01

#: (ISO country, calling code, national significant number length, trunk prefix, share of people)
COUNTRIES: tuple[tuple[str, str, int, str, float], ...] = (
    ("US", "1", 10, "", 0.50),
    ("GB", "44", 10, "0", 0.15),
    ("DE", "49", 10, "0", 0.10),
    ("FR", "33", 9, "0", 0.08),
    ("CA", "1", 10, "", 0.07),
    ("AU", "61", 9, "0", 0.05),
    ("NL", "31", 9, "0", 0.05),
)

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "David", "Elif", "Farah", "George", "Hana", "Ivan", "Julia", "Kofi", "Lena",
    "Marco", "Nina", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Uma", "Victor", "Wei", "Yara",
)
LAST_NAMES = (
    "Smith", "Garcia", "Müller", "Dubois", "Rossi", "Nakamura", "Okafor", "Kowalski", "Jensen", "Silva",
    "Chen", "Patel", "O'Brien", "van Dijk", "Haddad", "Novak", "Lindqvist", "Moreau", "Schmidt", "Kim",
)
#: the other form a person's first name takes on a second CRM entry (each pair is in seed identity_nicknames)
NICKNAMES = {"Ben": "Benjamin", "David": "Dave", "Victor": "Vic", "George": "Georgie", "Julia": "Jules",
             "Marco": "Marc", "Rosa": "Rosie", "Chloe": "Clo"}
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "web.de")
COMPANIES = (
    "Acme Analytics", "Globex", "Initech", "Umbrella Retail", "Hooli", "Vandelay Imports", "Stark Logistics",
    "Wayne Media", "Tyrell Bio", "Cyberdyne Health", "Soylent Foods", "Wonka Confectionery",
)
JOB_TITLES = (
    "Marketing Manager", "VP Marketing", "CMO", "Data Analyst", "Analytics Engineer", "Growth Lead",
    "Software Engineer", "Head of CRM", "Student", "Sales Director", "CEO", "Operations Manager",
)
INDUSTRIES = ("Software", "Retail", "Healthcare", "Finance", "Media", "Manufacturing", "Education")
COMPANY_SIZES = (5, 25, 80, 250, 1200, 5000, 20000)
LEAD_SOURCES = ("web_form", "webinar", "trade_show", "partner", "outbound", "content_download")
OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
CAMPAIGNS = (
    "spring_sale", "brand_awareness", "retargeting_q3", "product_launch", "black_friday",
    "webinar_series", "newsletter_weekly", "lookalike_test",
)
TERMS = ("cdp", "customer data platform", "reverse etl", "marketing analytics", "attribution tool")
PAGE_PATHS = ("/", "/pricing", "/product", "/blog/attribution-101", "/docs", "/signup", "/demo", "/cart")
SITE = "https://shop.example.com"

#: Placeholder values real systems are full of; the identity work must never link on them.
JUNK_EMAILS = ("test@example.com", "noreply@example.com", "undefined", "null", "none@none.com")
JUNK_PHONES = ("0", "-1", "000-000-0000", "undefined")
