"""Categories: readable names from the taxonomy, every product gets exactly one, gaps filled by vectors."""

from __future__ import annotations

import numpy as np
import pytest

from models import categories


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", "candles"),
        ("WHITE METAL LANTERN", "lighting"),
        ("KNITTED UNION FLAG HOT WATER BOTTLE", "textiles"),  # a phrase beats the word BOTTLE
        ("RED RETROSPOT CHRISTMAS TEA TOWEL", "christmas"),  # a season beats what the product is
        ("PINK FELT EASTER RABBIT GARLAND", "easter"),
        ("MINI PLAYING CARDS GYMKHANA", "toys"),  # not stationery, despite CARDS
        ("JUMBO BAG RED RETROSPOT", "bags"),
        ("PACK OF 72 RETROSPOT CAKE CASES", "party"),
        ("REGENCY CAKESTAND 3 TIER", "kitchen"),
        ("SET OF 3 CAKE TINS PANTRY DESIGN", "kitchen"),
        ("ASSORTED COLOUR BIRD ORNAMENT", "decorations"),
        ("SILVER DROP EARRINGS WITH FLOWER", "jewellery"),
        ("VINTAGE ZINC WATERING CAN", "garden"),
        ("LADIES & GENTLEMEN METAL SIGN", "wall-decor"),
        ("WOODLAND STORAGE BOX SMALL", "storage"),
        ("EMBROIDERED RIBBON REEL SALLY", "sewing-craft"),
        ("RED PAPER PARASOL", "accessories"),
        ("WHITE BROCANTE SOAP DISH", "bath-beauty"),
        ("GLOW IN THE DARK LANTERNS", "lighting"),  # plural
        ("spaceboy lunch box", "kitchen"),  # case does not matter
    ],
)
def test_taxonomy_names_products(name: str, category: str) -> None:
    assert categories.categorize_name(name) == category


def test_unknown_name_gets_no_category_from_the_taxonomy() -> None:
    assert categories.categorize_name("NINJA RABBIT BLACK") is None
    assert categories.categorize_name("") is None


def test_a_readable_vocabulary() -> None:
    assert 10 <= len(categories.CATEGORIES) <= 30
    assert len(set(categories.CATEGORIES)) == len(categories.CATEGORIES)
    assert all(c.replace("-", "").isalpha() and c.islower() for c in categories.CATEGORIES)


def test_every_product_gets_one_category_and_gaps_follow_their_neighbours() -> None:
    rng = np.random.default_rng(0)
    kitchen, garden = rng.normal(size=8), rng.normal(size=8)
    names = ["RETRO MUG", "ENAMEL BOWL", "TEA CUP", "ZINC PLANTER", "WATERING CAN", "BIRD FEEDER", "THING", "WHATSIT"]
    centres = np.stack([kitchen, kitchen, kitchen, garden, garden, garden, kitchen, garden])
    vectors = centres + 0.05 * rng.normal(size=(8, 8))
    assigned = categories.assign(names, vectors, k=3)
    assert assigned[:6] == ["kitchen"] * 3 + ["garden"] * 3
    assert assigned[6] == "kitchen"  # nearest named products are mugs, bowls and cups
    assert assigned[7] == "garden"
    assert all(category in categories.CATEGORIES for category in assigned)


def test_without_vectors_or_with_zero_vectors_the_fallback_applies() -> None:
    names = ["RETRO MUG", "THING ONE"]
    assert categories.assign(names) == ["kitchen", categories.FALLBACK]
    assert categories.assign(names, np.zeros((2, 4))) == ["kitchen", categories.FALLBACK]


def test_summary_counts_and_shows_examples() -> None:
    summary = categories.summary(["kitchen", "garden", "kitchen"], ["MUG", "SPADE", "BOWL"])
    assert summary == {
        "kitchen": {"products": 2, "examples": ["MUG", "BOWL"]},
        "garden": {"products": 1, "examples": ["SPADE"]},
    }
