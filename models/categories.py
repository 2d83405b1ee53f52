"""Categories: one readable category per product, derived from its name and its vector.

Online Retail has no category column. A keyword taxonomy, written from the most frequent words
of its product names, names most products (`categorize_name`: ordered rules, so "HOT WATER BOTTLE"
is a textile before "BOTTLE" makes it kitchenware, and weak words of materials and motifs last).
A product no rule names takes the category a clear majority of its nearest named products share
by item vector (bought by the same customers); otherwise it stays in `gifts`."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

FALLBACK = "gifts"
NEAREST = 15  # named neighbours consulted for a product no rule names
AGREEMENT = 0.5  # share of those neighbours that must agree, else the product stays in FALLBACK

# (category, words or phrases); phrases are checked before single words, rules in this order
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "SNOWMAN", "NATIVITY",
                   "BAUBLE", "BAUBLES", "ELF", "NOEL", "TREE DECORATION", "STOCKING")),
    ("easter", ("EASTER", "CHICK", "CHICKS", "BUNNY", "BUNNIES", "HEN")),
    ("party", ("PARTY", "NAPKINS", "NAPKIN", "BUNTING", "BALLOON", "BALLOONS", "CAKE CASES", "PAPER PLATES",
               "PAPER CUPS", "PAPER PLATE", "STRAWS", "BIRTHDAY", "CONFETTI", "DOILY", "DOILIES", "PARTY BAG",
               "CAKE TOPPERS", "CANDLES FOR CAKE", "PICNIC")),
    ("textiles", ("HOT WATER BOTTLE", "CUSHION", "DOORMAT", "THROW", "BLANKET", "QUILT", "CURTAIN", "FLANNEL",
                  "SLIPPERS", "SLIPPER", "SOCK", "SOCKS", "PATCHWORK", "TOWEL", "CUSHION COVER", "HAND WARMER",
                  "WARMER")),
    ("stationery", ("GIFT WRAP", "WRAP", "GIFT BAG", "GIFT BOX", "GREETING CARD", "CARD", "CARDS", "NOTEBOOK",
                    "NOTEBOOKS", "PENCIL", "PENCILS", "PEN", "PENS", "STICKER", "STICKERS", "TAPE", "ENVELOPE",
                    "ENVELOPES", "CALENDAR", "SKETCHBOOK", "NOTEPAD", "NOTE BOOK", "DIARY", "ERASER", "RUBBER",
                    "TISSUE", "TISSUES", "GIFT TAG", "TAGS", "WRAPPING", "ORIGAMI", "PAPER CHAIN", "LETTER",
                    "LETTERS", "POSTCARD", "BOOKMARK", "RULER", "CRAYONS", "CHALK", "MEMO BOARD", "PHOTO ALBUM",
                    "ALBUM", "SCRAPBOOK", "STATIONERY", "SCRAP BOOK", "EXERCISE BOOK", "EXERCISE BOOKS", "JOURNAL",
                    "MEMOBOARD", "STAMP", "HOLE PUNCH", "WRITING SET", "SCISSOR", "SCISSORS")),
    ("toys", ("PLAYING CARDS", "TOY", "TOYS", "JIGSAW", "GAME", "GAMES", "DOLL", "SKIPPING ROPE", "SPINNING TOP",
              "PUZZLE", "BALL", "DOMINOES", "SNAKES", "LADDERS", "INFLATABLE", "SOLDIER", "SOLDIERS", "TEDDY",
              "SOFT TOY", "MARBLES", "KITE", "YO-YO", "WATER PISTOL", "BINGO", "POPPY'S PLAYHOUSE", "PLAYHOUSE",
              "BUILDING BLOCK", "BLOCK WORD", "COLOURING", "PAINT SET", "MAGIC DRAWING",  "HELICOPTER",
              "RATTLE", "PUPPET", "FLYING DISC", "RADIO")),
    ("candles", ("CANDLE", "CANDLES", "T-LIGHT", "T-LIGHTS", "TEALIGHT", "TEA LIGHT", "TEA LIGHTS", "CANDLEHOLDER",
                 "CANDLESTICK", "CANDLEPOT", "INCENSE", "OIL BURNER", "VOTIVE", "TLIGHT")),
    ("lighting", ("LANTERN", "LANTERNS", "LAMP", "LAMPSHADE", "LIGHT", "LIGHTS", "CHANDELIER", "LED", "TORCH",
                  "NIGHT LIGHT", "FAIRY LIGHTS", "LIGHT GARLAND")),
    ("wall-decor", ("SIGN", "SIGNS", "PLAQUE", "FRAME", "FRAMES", "CLOCK", "CLOCKS", "MIRROR", "WALL ART", "WALL",
                    "PICTURE", "PHOTO", "CANVAS", "PRINT", "POSTER", "TILE", "TILES", "DOORSIGN", "DOOR SIGN",
                    "BLACKBOARD", "CHALKBOARD", "NOTICE BOARD", "ALARM")),
    ("bath-beauty", ("SOAP", "BATH", "BATHROOM", "WASHBAG", "TOOTHBRUSH", "MAKE UP", "LIP GLOSS", "NAIL",
                     "TOILETRIES", "SPONGE", "PERFUME", "SHOWER CAP", "COMPACT MIRROR", "MIRROR COMPACT", "TOILET")),
    ("jewellery", ("NECKLACE", "NECKLACE+BRACELET", "EARRINGS", "BRACELET", "PENDANT", "BROOCH", "DIAMANTE",
                   "BEADS", "CHARM", "CHARMS", "JEWELLERY", "RING", "BANGLE", "CHOKER", "BLING",
                   "AMETHYST")),
    ("accessories", ("UMBRELLA", "PARASOL", "HAIR", "HAIRCLIP", "HAIR CLIP", "HAIRBAND", "SUNGLASSES", "KEY RING",
                     "KEYRING", "GLOVES", "SCARF", "HAT", "PASSPORT", "PHONE", "WALLET", "PURSE", "LUGGAGE TAG",
                     "MIRROR BALL", "BADGE", "FAN", "RAIN PONCHO", "POCKET", "CARD HOLDER", "TIARA", "TIARAS")),
    ("bags", ("BAG", "BAGS", "HANDBAG", "SHOPPER", "TOTE", "BACKPACK", "RUCKSACK", "LUNCH BAG", "JUMBO BAG",
              "CHARLOTTE BAG", "WASH BAG")),
    ("kitchen", ("MUG", "MUGS", "CUP", "CUPS", "SAUCER", "TEACUP", "TEAPOT", "PLATE", "PLATES", "BOWL", "BOWLS",
                 "JUG", "CAKE STAND", "CAKE TIN", "BAKING", "CUTLERY", "TEA TOWEL", "APRON", "JAM", "JAR", "JARS",
                 "BISCUIT", "LUNCH BOX", "LUNCHBOX", "BOTTLE", "TRAY", "CHOPSTICKS", "SPOON", "SPOONS", "PAN",
                 "OVEN GLOVE", "EGG CUP", "PANTRY", "BEAKER", "COASTER", "COASTERS", "CHOPPING BOARD", "RECIPE",
                 "TUMBLER", "DISH", "DISHES", "KITCHEN", "MOULD", "MOULDS", "BREAD", "BREADBIN", "TOAST", "WINE",
                 "CHAMPAGNE", "SNACK", "SANDWICH", "COOKIE", "CUTTER", "CUTTERS", "ICE", "LOLLY", "SCALES",
                 "MEASURING", "STRAW", "TRIVET", "NAPKIN RING", "SALT", "PEPPER", "KETTLE", "FLASK", "DRINKS",
                 "SPICE", "CAKESTAND", "TEATIME", "TABLECLOTH", "PLACEMAT", "PLACEMATS", "PLATTER", "SQUEEZER",
                 "WINE GLASS", "TEA SET", "COFFEE MUG", "CAKE TINS", "EGG COSY", "TABLE RUNNER", "TEA COSY")),
    ("garden", ("GARDEN", "WATERING CAN", "PLANT", "PLANTER", "PLANTERS", "FLOWER POT", "POT", "POTS",
                "BIRD HOUSE", "BIRDHOUSE", "BIRD FEEDER", "BIRD TABLE", "FEEDER", "SEED", "SEEDS", "THERMOMETER",
                "WINDMILL", "TROWEL", "OUTDOOR", "WIND CHIME", "CHIME", "CHIMES", "GNOME", "HERB", "GROW",
                "GREENHOUSE", "SHED", "SPADE", "FORK", "WHEELBARROW", "PLANT CAGE", "CLOCHE", "HAMMOCK",
                "KNEELING")),
    ("storage", ("TRINKET POT", "TRINKET", "BOX", "BOXES", "TIN", "TINS", "BASKET", "BASKETS", "KNOB", "KNOBS",
                 "HOOK", "HOOKS", "HANGER",
                 "HANGERS", "CABINET", "TIDY", "CASE", "CONTAINER", "RACK", "BIN", "CRATE", "DRAWER", "DRAWERS",
                 "SHELF", "TRUNK", "CHEST", "STORAGE", "HOLDER", "PEG", "PEGS", "MAGNETS", "MAGNET", "STAND",
                 "CADDY", "TROLLEY", "SET/3", "NEST OF")),
    ("sewing-craft", ("SEWING", "KNITTING", "FELTCRAFT", "CRAFT", "BUTTONS", "BUTTON", "RIBBON", "RIBBONS",
                      "CROCHET", "EMBROIDERY", "EMBROIDERED", "THREAD", "NEEDLE", "PATCHES", "HABERDASHERY",
                      "FABRIC", "LACE", "REEL", "STENCIL")),
    ("decorations", ("DECORATION", "DECORATIONS", "HANGING", "ORNAMENT", "HEART", "HEARTS", "GARLAND", "MOBILE",
                     "WREATH", "BELL", "BELLS", "BUTTERFLY", "FEATHER", "VASE", "FLOWER", "FLOWERS", "ARTIFICIAL",
                     "DOORSTOP", "PAPERWEIGHT", "FIGURE", "STAR", "STARS", "BIRD", "BIRDS", "ANGEL", "FAIRY",
                     "POMPOM", "SPIRAL", "ROSE", "ROSES", "DAISY", "HONEYCOMB", "DECORATIVE", "FLAG", "FLAGS",
                     "ORB", "GLOBE", "HOME", "LOVE", "LETTERING")),
)  # fmt: skip
# materials and motifs: they name a category only when no rule above does ("GOLD APERITIF GLASS")
WEAK_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kitchen", ("GLASS", "GLASSES", "CHALICE", "TEA", "COFFEE", "SUGAR", "CHOCOLATE", "CAKE", "EGG", "BREAKFAST",
                 "DINNER", "COLANDER", "FOOD", "TABLE")),
    ("jewellery", ("BEAD", "BEADED", "JEWELLED", "CRYSTAL", "NECKL", "GEMS", "PEARL", "PEARLS")),
    ("textiles", ("MAT", "FILLER", "FELT", "COTTON", "KNITTED")),
    ("accessories", ("BIB", "DRESS", "SKIRT", "MAC", "SHOE", "SHOES", "KEY", "FOB", "HEADPHONES")),
    ("decorations", ("DUCKS", "OWL", "MONSTER", "ANIMAL", "HORSE", "DEC", "ORNAMENTAL", "STOOL")),
    ("toys", ("TATTOOS", "KIDS", "CHILDS", "CHILDRENS", "SPORTING", "GLIDERS", "SNAKE", "CLAY", "SPACE")),
    ("candles", ("MATCHES", "FRAGRANCE")),
    ("storage", ("ORGANISER", "BASE", "WOOD", "WOODEN")),
    ("wall-decor", ("PHOTOFRAME",)),
)  # fmt: skip
CATEGORIES: tuple[str, ...] = (*(name for name, _ in RULES), FALLBACK)
_WORD = re.compile(r"[A-Z0-9'+/&-]+")


SEASONS = frozenset({"christmas", "easter"})  # a seasonal word wins over what the product is


def _compile() -> list[tuple[str, frozenset[str], tuple[str, ...]]]:
    compiled = []
    for category, terms in RULES:
        words = frozenset(t for t in terms if " " not in t)
        phrases = tuple(t for t in terms if " " in t)
        compiled.append((category, words, phrases))
    return compiled


_RULES = _compile()


def categorize_name(name: str) -> str | None:
    """The taxonomy's category for a product name, or None when no rule names it.

    Seasonal rules first, then any rule's phrase ("HOT WATER BOTTLE", "PLAYING CARDS"), then any
    rule's single word, each in rule order, then the weak words of materials and motifs.
    """
    text = " ".join(_WORD.findall(name.upper()))
    padded = f" {text} "
    tokens = set(text.split())
    tokens |= {t[:-1] for t in tokens if len(t) > 3 and t.endswith("S")}  # plurals: LANTERNS -> LANTERN
    for category, words, phrases in _RULES:
        if category in SEASONS and (words & tokens or any(f" {p} " in padded for p in phrases)):
            return category
    for category, _, phrases in _RULES:
        if any(f" {p} " in padded for p in phrases):
            return category
    for category, words, _ in _RULES:
        if words & tokens:
            return category
    for category, weak in WEAK_RULES:
        if tokens.intersection(weak):
            return category
    return None


def assign(
    names: Sequence[str], vectors: np.ndarray | None = None, k: int = NEAREST, agreement: float = AGREEMENT
) -> list[str]:
    """One category per product: the taxonomy's, else a clear majority of its nearest named products, else FALLBACK."""
    named = [categorize_name(name) for name in names]
    unnamed = [row for row, category in enumerate(named) if category is None]
    if not unnamed:
        return [c or FALLBACK for c in named]
    result = [c or FALLBACK for c in named]
    labelled = np.array([row for row, category in enumerate(named) if category is not None], dtype=np.int64)
    if vectors is None or not len(labelled):
        return result
    unit = _unit(vectors)
    usable = [row for row in unnamed if np.any(unit[row])]
    if not usable:
        return result
    similarity = unit[usable] @ unit[labelled].T
    k = min(k, len(labelled))
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    for row, neighbours in zip(usable, nearest.tolist(), strict=True):
        category, count = Counter(named[int(labelled[n])] for n in neighbours).most_common(1)[0]
        if count >= agreement * k:
            result[row] = str(category)
    return result


def summary(categories: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, object]]:
    """Per category: product count and a few example names (for the build report)."""
    examples: dict[str, list[str]] = {}
    for category, name in zip(categories, names, strict=True):
        examples.setdefault(category, []).append(name)
    return {
        category: {"products": len(members), "examples": members[:3]}
        for category, members in sorted(examples.items(), key=lambda kv: -len(kv[1]))
    }


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.zeros_like(vectors)
    np.divide(vectors, norms, out=out, where=norms > 0)
    return out
