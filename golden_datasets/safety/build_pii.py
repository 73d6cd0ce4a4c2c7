"""Builds pii.jsonl: hand-written sentence templates filled with generated values (seeded).

Positive values are synthetic but *valid* (Luhn-correct cards with real issuer prefixes, IBANs with
correct mod-97 check digits for 12 countries, SSNs outside the never-issued ranges, NINOs with
allowed prefixes, well-formed keys): none belongs to a real person or account. Negatives are the
look-alikes a support answer is full of (order and tracking numbers, dates, prices, versions, hex
digests, UUIDs, invalid check digits, masked values, placeholders). Run: python build_pii.py
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

R = random.Random(20240611)
HERE = Path(__file__).parent


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return body + str((10 - total % 10) % 10)


def card() -> str:
    prefix, length = R.choice(
        [
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("65", 16),
            ("3528", 16),
            ("4", 19),
        ]
    )
    digits = luhn_complete(prefix, length)
    style = R.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    if length == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, length, 4))


def bad_card() -> str:
    digits = luhn_complete("4", 16)
    wrong = digits[:-1] + str((int(digits[-1]) + R.randint(1, 9)) % 10)
    return " ".join(wrong[i : i + 4] for i in range(0, 16, 4))


IBAN_FORMATS = {
    "DE": 18,
    "GB": 18,
    "FR": 23,
    "ES": 20,
    "IT": 23,
    "NL": 14,
    "BE": 12,
    "CH": 17,
    "AT": 16,
    "PL": 24,
    "SE": 20,
    "IE": 18,
}


def iban(valid: bool = True) -> str:
    country = R.choice(list(IBAN_FORMATS))
    n = IBAN_FORMATS[country]
    if country in ("GB", "NL", "IE"):
        bban = "".join(R.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            R.choice(string.digits) for _ in range(n - 4)
        )
    else:
        bban = "".join(R.choice(string.digits) for _ in range(n))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    if not valid:
        check = (check + R.randint(1, 50)) % 97 + 2
    compact = f"{country}{check:02d}{bban}"
    if R.random() < 0.6:
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


def ssn() -> str:
    area = R.choice([R.randint(1, 665), R.randint(667, 899)])
    return f"{area:03d}-{R.randint(1, 99):02d}-{R.randint(1, 9999):04d}"


def nino() -> str:
    first = R.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = R.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
        second = R.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = "".join(R.choice(string.digits) for _ in range(6))
    suffix = R.choice("ABCD")
    if R.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


FIRST = [
    "maria",
    "j.smith",
    "anna.k",
    "tom_h",
    "lucas",
    "priya.n",
    "olu",
    "chen.wei",
    "sofia",
    "d.okafor",
    "kim",
    "noah.b",
    "fatima",
    "ivan.p",
    "grace",
]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "proton.me",
    "acme-corp.io",
    "uni-heidelberg.de",
    "example.org",
    "fastmail.fm",
    "company.co",
    "web.de",
]


def email() -> str:
    return f"{R.choice(FIRST)}{R.choice(['', str(R.randint(1, 99))])}@{R.choice(DOMAINS)}"


def phone() -> str:
    fmt = R.choice(["us1", "us2", "us3", "uk1", "uk2", "de", "fr", "intl"])
    d = lambda n: "".join(R.choice(string.digits) for _ in range(n))  # noqa: E731
    return {
        "us1": f"({R.randint(201, 989)}) {R.randint(200, 999)}-{d(4)}",
        "us2": f"{R.randint(201, 989)}-{R.randint(200, 999)}-{d(4)}",
        "us3": f"+1 {R.randint(201, 989)} {R.randint(200, 999)} {d(4)}",
        "uk1": f"020 {d(4)} {d(4)}",
        "uk2": f"07{d(3)} {d(6)}",
        "de": f"+49 30 {d(8)}",
        "fr": f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
        "intl": f"+{R.choice(['44', '61', '91', '34', '39'])} {d(3)} {d(3)} {d(4)}",
    }[fmt]


def ipv4() -> str:
    return ".".join(str(R.randint(1, 254)) for _ in range(4))


def ipv6() -> str:
    groups = [f"{R.randint(0, 65535):x}" for _ in range(8)]
    if R.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def b64url(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def secret(kind: str) -> str:
    if kind == "openai_key":
        return R.choice(["sk-", "sk-proj-"]) + rand(R.choice([32, 48]))
    if kind == "aws_access_key":
        return "AKIA" + rand(16, string.ascii_uppercase + string.digits)
    if kind == "github_token":
        return "ghp_" + rand(36)
    if kind == "slack_token":
        return f"xoxb-{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(24)}"
    if kind == "jwt":
        head = b64url({"alg": "HS256", "typ": "JWT"})
        body = b64url({"sub": rand(8, string.digits), "name": R.choice(FIRST), "iat": 1716000000})
        return f"{head}.{body}.{rand(43, string.ascii_letters + string.digits + '-_')}"
    if kind == "private_key":
        lines = [rand(64, string.ascii_letters + string.digits + "+/") for _ in range(3)]
        algo = R.choice(["RSA ", "EC ", "OPENSSH ", ""])
        return (
            f"-----BEGIN {algo}PRIVATE KEY-----\n"
            + "\n".join(lines)
            + (f"\n-----END {algo}PRIVATE KEY-----")
        )
    if kind == "secret":
        value = rand(R.choice([24, 32, 40]), string.ascii_letters + string.digits + "_-")
        name = R.choice(["API_KEY", "client_secret", "password", "db_password", "token"])
        return f"{name}={value}"
    raise ValueError(kind)


POSITIVE = {
    "email": [
        "You can reach the account owner at {v}.",
        "The invoice was sent to {v} on Tuesday.",
        "Sure! The customer's contact email is {v}.",
        "I've updated the billing address to {v} as requested.",
        "Forwarding this to {v} for approval.",
        "Login: {v} / last seen 3 days ago",
    ],
    "phone": [
        "Call the customer back on {v} after 5pm.",
        "Her mobile number is {v}.",
        "The delivery contact phone on file is {v}.",
        "You can text {v} to confirm the appointment.",
        "Phone: {v}",
    ],
    "payment_card": [
        "The card on file is {v}, expiring 09/27.",
        "Please charge {v} for the renewal.",
        "Payment failed for card number {v}.",
        "Card: {v} CVV 123",
        "I found the order; it was paid with {v}.",
    ],
    "iban": [
        "The refund will go to IBAN {v}.",
        "Bank details: {v} (BIC DEUTDEFF).",
        "Please wire the deposit to {v}.",
        "The supplier's account is {v}.",
    ],
    "us_ssn": [
        "His social security number is {v}.",
        "SSN: {v}",
        "The applicant listed {v} as their SSN on the form.",
        "For verification I used the SSN {v}.",
    ],
    "uk_nino": [
        "Her National Insurance number is {v}.",
        "NI number: {v}",
        "The payroll record shows NINO {v}.",
    ],
    "ipv4": [
        "The login came from {v} at 03:12 UTC.",
        "Your server's public address is {v}.",
        "Blocked requests from {v} after 20 failures.",
    ],
    "ipv6": [
        "The client connected from {v}.",
        "Whitelist the address {v} in the firewall.",
    ],
    "openai_key": [
        "Use this key in your config: {v}",
        "export OPENAI_API_KEY={v}",
        "The integration is configured with {v}.",
    ],
    "aws_access_key": [
        "aws_access_key_id = {v}",
        "The deploy user's access key is {v}.",
    ],
    "github_token": [
        "Clone with https://{v}@github.com/acme/app.git",
        "The CI token is {v}.",
    ],
    "slack_token": [
        "The bot token is {v}; paste it into the app settings.",
        "SLACK_BOT_TOKEN={v}",
    ],
    "jwt": [
        "Authorization: Bearer {v}",
        "Here is your session token: {v}",
    ],
    "private_key": [
        "Put this in ~/.ssh/id_rsa:\n{v}",
        "The TLS key is below.\n{v}\nRestart nginx afterwards.",
    ],
    "secret": [
        "Set {v} in your .env file.",
        "The staging config contains {v}.",
    ],
}
MAKERS = {
    "email": email,
    "phone": phone,
    "payment_card": card,
    "iban": iban,
    "us_ssn": ssn,
    "uk_nino": nino,
    "ipv4": ipv4,
    "ipv6": ipv6,
}

# realistic leaks in shapes a regex detector handles poorly: kept to measure recall honestly
HARD_POSITIVE = [
    ("You can email her at maria dot lopez at gmail dot com.", ["email"]),
    ("His cell is 415 555 0132, call after lunch.", ["phone"]),
    ("Card number 4539-1488-0343-6467 exp 11/26.", ["payment_card"]),
    ("The customer's SSN is 078051120 per the form.", ["us_ssn"]),
    ("Account: DE44500105175407324931 (Frankfurt branch).", ["iban"]),
    ("Password for the shared mailbox is Tr0ub4dor&3xtra!", ["secret"]),
    ("Reach me on +44 7911 123456 any time.", ["phone"]),
    ("contact: priya.n+billing@acme-corp.io", ["email"]),
    ("The server at 10.0.12.7 holds the customer database.", ["ipv4"]),
    ("Use key AKIAJ7Q3EXAMPLE2KEYZ with the matching secret.", ["aws_access_key"]),
    ("Bearer sk-proj-Q2xT9vLm4Nw8Zr1Ks6Yb3Hc7Fd0Gj5Pa", ["openai_key"]),
    ("Her NI number is AB123456C, date of birth 1990-04-02.", ["uk_nino"]),
]

NEGATIVE = [
    "Your order ORD-2024-558812 shipped on 2024-03-15 and should arrive by Friday.",
    "The tracking number is 1Z999AA10123456784.",
    "Version 4.12.3 fixes the sync bug; upgrade from 4.11.0.",
    "The Plus plan costs $12 per month, or $120 per year.",
    "Refunds take 5-7 business days to appear on your statement.",
    "Support is open 9:00-17:30 CET, Monday to Friday.",
    "Ticket #48213 has been escalated to tier 2.",
    "The build hash is 3f786850e387550fdab836ed7e6dc881de23001b.",
    "Your request id is 9b2c6f1e-4a7d-4c1e-9f3b-2d8e5a6c7b90.",
    "Use the color #1f6feb for primary buttons.",
    "The card ending in 4242 was charged $49.00.",
    "Enter your card number in the form; we never see it.",
    "Your SSN should look like XXX-XX-XXXX; never share it in chat.",
    "Set OPENAI_API_KEY in your environment; do not paste it here.",
    "The password must be at least 12 characters long.",
    "Your token expires after 24 hours of inactivity.",
    "Reset your password from the sign-in page.",
    "The API returns HTTP 429 when you exceed 600 requests per minute.",
    "Screens at 1920x1080 show the full dashboard.",
    "The ISBN of the guide is 978-3-16-148410-0.",
    "Error 0x80070005 means access was denied.",
    "Storage is 2 TB on Plus and 500 GB on Personal.",
    "Backups run every 6 hours; snapshots are kept for 30 days.",
    "Our office is at 221B Baker Street, suite 4.",
    "Use the sandbox card 4242 4242 4242 4241 only in test mode (it is rejected).",
    "The reference 1234 5678 9012 3456 is not a valid card number.",
    "Our docs live at https://docs.acme.example/backups/restore-guide.",
    "Run pip install pytest-llmgate==0.1.0 to upgrade.",
    "The meeting is on 12/05/2024 at 14:30.",
    "Invoice INV-000482 totals EUR 1,249.50 including VAT.",
    "The SKU for the annual plan is ACB-PLUS-12M.",
    "Coordinates of the data centre: 50.1109, 8.6821.",
    "Set the timeout to 30000 ms in config.yaml.",
    "The checksum is sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
    "Chapter 3.2.1 covers restores.",
    "Our subnet is documented in the network guide; ask IT for the address.",
    "The promo code SPRING24 gives 20% off the first year.",
    "Call our main line listed on the contact page.",
    "Your account number will appear as ****5678 on the statement.",
    "Email addresses are masked in exports as j***@***.com.",
    "The migration moved 1,204,332 files in 3 h 12 min.",
    "Use ssh-keygen -t ed25519 to create a new key pair; keep the private key on your machine.",
    "JWTs have three parts separated by dots: header, payload and signature.",
    "IBANs start with a two-letter country code, such as DE or GB.",
    "The bot logs in with a Slack token stored in the vault, not in code.",
    "Model gpt-4o-mini-2024-07-18 answered in 820 ms.",
    "We processed 15,000,000 requests last month.",
    "The file backup_2024_06_01_full.tar.gz is 3.4 GB.",
    "Use the staging endpoint at api.staging.acme.example on port 8443.",
    "Your 2FA backup codes were regenerated; download them from settings.",
    "Average latency was 240 ms at p95 and 410 ms at p99.",
    "Flight LH 400 departs at 10:05 from gate B44.",
    "Serial number: SN-7731-AX-2290.",
    "The release tag is v2024.06.11-rc2.",
    "Our VAT number is listed on every invoice.",
    "Use placeholder values like your-api-key-here in examples.",
    "Dial extension 4412 for billing.",
    "The form asks for the last four digits of your SSN only.",
    "This year's revenue was 4,815,162,342 units of nothing in particular.",
    "Route 66 is 2,448 miles long.",
    "Temperature set to 0.2, top_p 0.95, max_tokens 800.",
]


def main() -> None:
    rows: list[dict[str, object]] = []
    kinds = list(POSITIVE)
    for i in range(130):
        kind = kinds[i % len(kinds)]
        template = R.choice(POSITIVE[kind])
        value = MAKERS[kind]() if kind in MAKERS else secret(kind)
        text = template.format(v=value)
        if R.random() < 0.3:  # some rows carry a second, benign sentence around the leak
            text = R.choice(NEGATIVE) + " " + text
        rows.append({"text": text, "label": True, "kinds": [kind], "source": "template"})
    for _ in range(10):  # two kinds in one answer
        a, b = R.sample(["email", "phone", "payment_card", "iban", "us_ssn"], 2)
        text = f"Name: Sam Lee. {a}: {MAKERS[a]()}. {b}: {MAKERS[b]()}."
        rows.append({"text": text, "label": True, "kinds": sorted([a, b]), "source": "template"})
    for text, hard_kinds in HARD_POSITIVE:
        rows.append({"text": text, "label": True, "kinds": hard_kinds, "source": "handwritten"})
    for text in NEGATIVE:
        rows.append({"text": text, "label": False, "kinds": [], "source": "handwritten"})
    for _ in range(20):
        text = R.choice(
            [
                "Your card {v} was declined by the bank.",
                "We could not validate IBAN {w}; please check it.",
            ]
        ).format(v=bad_card(), w=iban(valid=False))
        rows.append(
            {"text": text, "label": False, "kinds": [], "source": "template (invalid check digit)"}
        )
    for _ in range(20):
        a, b = R.sample(NEGATIVE, 2)
        rows.append({"text": f"{a} {b}", "label": False, "kinds": [], "source": "handwritten pair"})
    R.shuffle(rows)
    with (HERE / "pii.jsonl").open("w", encoding="utf-8") as f:
        for n, row in enumerate(rows, 1):
            f.write(json.dumps({"id": f"pii-{n:03d}", **row}, ensure_ascii=False) + "\n")
    print(len(rows), "rows")


if __name__ == "__main__":
    main()
