"""C names: turn any model or tensor name into a valid, readable C identifier."""
from __future__ import annotations

import re

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary main""".split())


# Latin letters Unicode does not decompose into a base letter + marks.
_TRANSLIT = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss",
                           "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ð": "d", "Ð": "D", "þ": "th",
                           "Þ": "TH", "ı": "i"})


def ascii_fold(text: str) -> str:
    """'ünïcødé' -> 'unicode': NFKD, combining marks dropped, a few Latin letters transliterated."""
    import unicodedata

    text = unicodedata.normalize("NFKD", str(text).translate(_TRANSLIT))
    return "".join(c for c in text if not unicodedata.combining(c))


def c_identifier(name: str, fallback: str = "model") -> str:
    """'mlperf-tiny KWS (v2).tflite' -> 'mlperf_tiny_kws_v2'; never empty, never a keyword,
    never starting with a digit or a reserved '_X'/'__' prefix. Accented letters keep
    their base letter ('ünïcødé' -> 'unicode')."""
    s = re.sub(r"\.tflite$", "", ascii_fold(name), flags=re.IGNORECASE)
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s:
        s = fallback
    if s[0].isdigit():
        s = f"m_{s}"
    if s.startswith("tg_"):
        s = f"m_{s}"  # tg_ is the kernels' namespace
    if s in C_KEYWORDS:
        s = f"{s}_model"
    return s


def c_macro(name: str) -> str:
    return c_identifier(name).upper()


def c_string(text: str) -> str:
    """A C string literal (ASCII, escaped)."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= o < 127:
            out.append(ch)
        else:
            out.append("?")
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """Text safe inside a /* */ comment."""
    return str(text).replace("*/", "* /").replace("/*", "/ *")


def c_string_lines(text: str, width: int = 96, indent: str = "    ") -> str:
    """A long C string as adjacent literals, one per line."""
    chunks = [text[i:i + width] for i in range(0, len(text), width)] or [""]
    return "\n".join(indent + c_string(c) for c in chunks)


def short_name(tensor_name: str, limit: int = 56) -> str:
    """A readable tensor label: converters join fused names with ';' -- keep the first."""
    s = str(tensor_name).split(";")[0]
    return s if len(s) <= limit else "..." + s[-(limit - 3):]
