"""Guards: what the content file forbids, an experiment arm cannot override.

`check_experiments` refuses an experiments file at load whose arms would show exclusive
(ambassador-only) pages outside the ambassador tiers or promise a discount as a literal number;
`edge.core.content.choose` enforces the same per decision (an arm's exclusive variant below the
ambassador tiers, or a `{discount_pct}` text without an offer, falls back to the content's own).
"""

from __future__ import annotations

import re

from edge.core.content import Content
from edge.core.experiments import ExperimentsConfig
from edge.errors import ConfigError

LITERAL_DISCOUNT = re.compile(r"\d+\s*%")


def check_experiments(content: Content, config: ExperimentsConfig) -> None:
    """Raise `ConfigError` naming the arm when an experiment would bypass a content guard."""
    exclusive = {seg.variant for seg in content.segments.values() if seg.exclusive}
    ambassador_tiers = content.rules.segments.ambassador_tiers
    for exp in config.experiments:
        tiers = exp.when.get("tier")
        segments = exp.when.get("segment")
        only_ambassadors = (tiers is not None and tiers <= ambassador_tiers) or (
            segments is not None and segments <= {"ambassador"} and tiers is None
        )
        for i, arm in enumerate(exp.arms):
            where = f"{config.source}: experiments[{exp.key}].arms[{i}]"
            if arm.variant in exclusive and not only_ambassadors:
                raise ConfigError(
                    f"{where}.variant: {arm.variant!r} is exclusive to the {', '.join(sorted(ambassador_tiers))} "
                    "tiers; target the experiment with when: {tier: [...]} of those tiers only",
                    field=f"experiments[{exp.key}].arms[{i}].variant",
                )
            for lang, texts in arm.content.items():
                for name, text in texts.items():
                    if LITERAL_DISCOUNT.search(text):
                        raise ConfigError(
                            f"{where}.content.{lang}.{name}: promises a discount as a number; use {{discount_pct}}, "
                            "which is the visitor's real offer (and the text is dropped when there is none)",
                            field=f"experiments[{exp.key}].arms[{i}].content.{lang}.{name}",
                        )
