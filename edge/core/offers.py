"""Offers: per-person codes that a checkout can verify without a lookup, and their verification.

A unique code is `<CODE>-<start>-<mac>`: the offer's shared code, the start of this person's
window (unix seconds, base 36) and the first 10 base-32 characters of
HMAC-SHA256(EDGE_OFFER_SECRET, "<offer id>|<user id>|<start>"). Anyone can read the code; only
the holder of the secret can make one, and it is valid for one customer, one window, and until a
purchase carrying it (`offer_code`) records the redemption.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge.core.answers import OfferVerdict, VerdictReason
from edge.core.content import Content, OfferRule, UniqueCode
from edge.core.ledger import REDEEMED

MAC_CHARS = 10


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out.upper()


def _mac(secret: str, offer_id: str, user_id: str, start: int) -> str:
    digest = hmac.new(secret.encode(), f"{offer_id}|{user_id}|{start}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:MAC_CHARS]


def unique_code(secret: str, offer: OfferRule, code: str, user_id: str, start: datetime) -> str:
    """This person's code for this offer and window."""
    seconds = int(start.timestamp())
    return f"{code}-{_base36(seconds)}-{_mac(secret, offer.id, user_id, seconds)}"


def code_maker(secret: str | None, user_id: str | None) -> UniqueCode | None:
    """What `content.choose` calls to make a person's code; None (shared codes) without a secret or a user."""
    if not secret or not user_id:
        return None

    def make(offer: OfferRule, code: str, start: datetime) -> str:
        return unique_code(secret, offer, code, user_id, start)

    return make


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    reason: VerdictReason
    offer: OfferRule | None = None
    expires_at: datetime | None = None

    def answer(self, code: str, user_id: str) -> OfferVerdict:
        """The answer of `GET /v1/offers/verify/{code}` (times to the second, in UTC)."""
        return OfferVerdict(
            code=code,
            user_id=user_id,
            valid=self.valid,
            reason=self.reason,
            offer_id=self.offer.id if self.offer else None,
            discount_pct=self.offer.discount_pct if self.offer else None,
            expires_at=None if self.expires_at is None else self.expires_at.astimezone(UTC).replace(microsecond=0),
        )


def verify(
    content: Content, secret: str | None, code: str, user_id: str, now: datetime, profile_fields: Mapping[str, str]
) -> Verdict:
    """Is `code` a valid, unredeemed code of `user_id` at `now`? Pure: the profile hash is read by the caller."""
    parts = code.rsplit("-", 2)
    if len(parts) != 3:
        return Verdict(False, "unknown_code")
    base, start36, mac = parts
    offers = [o for o in content.offers().values() if o.unique_codes and o.code == base]
    if not offers or not secret or not start36 or len(mac) != MAC_CHARS:
        return Verdict(False, "unknown_code")
    try:
        seconds = int(start36, 36)
    except ValueError:
        return Verdict(False, "unknown_code")
    matching = [o for o in offers if hmac.compare_digest(_mac(secret, o.id, user_id, seconds), mac.upper())]
    if not matching:
        return Verdict(False, "other_customer")
    offer = matching[0]
    start = datetime.fromtimestamp(seconds, UTC)
    end = start + timedelta(days=offer.valid_days or content.rules.offer_valid_days)
    if offer.valid_until is not None:
        end = min(end, offer.valid_until)
    if REDEEMED + code in profile_fields:
        return Verdict(False, "redeemed", offer, end)
    if now < start:
        return Verdict(False, "not_started", offer, end)
    if now >= end:
        return Verdict(False, "expired", offer, end)
    return Verdict(True, "ok", offer, end)
