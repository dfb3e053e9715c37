"""Language codes as cards write them: a BCP-47 tag or a FLORES-200 code.

>>> lang = parse_language("zho_Hans")
>>> lang.tag, lang.base, lang.script, lang.han
('zh-Hans', 'zh', 'Hans', True)
>>> parse_language("hi").script           # the likely script when the tag has none
'Deva'

Parsing and the likely script come from ``langcodes`` (the IANA registry and CLDR's
likely-subtags data).  Display names ("Yoruba") need its optional ``language-data``
package; without it :attr:`Language.name` is the tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import langcodes

FLORES_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
EXAMPLES = "a BCP-47 tag such as 'en', 'pt-BR', 'zh-Hans' or a FLORES-200 code such as 'eng_Latn'"

# Scripts written without spaces between words.  Han and kana: every character is a token
# for word-level metrics (as MLQA's and character-level Chinese ROUGE do).
HAN_SCRIPTS = frozenset({"Hans", "Hant", "Hani", "Jpan", "Hira", "Kana"})
UNSPACED_SCRIPTS = HAN_SCRIPTS | frozenset({"Thai", "Laoo", "Khmr", "Mymr", "Tibt"})
NO_SCRIPT = frozenset({"mul", "und", "zxx", "mis"})  # several / undetermined / no language


@dataclass(frozen=True)
class Language:
    """A parsed language code: the code as written, its standard tag, language and script."""

    code: str
    tag: str
    base: str
    script: str | None

    @property
    def han(self) -> bool:
        """Written in Han characters (Chinese, Japanese)."""
        return self.script in HAN_SCRIPTS

    @property
    def unspaced(self) -> bool:
        """Written without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar…)."""
        return self.script in UNSPACED_SCRIPTS

    @property
    def name(self) -> str:
        """English display name ("Yoruba"), or the tag when ``language-data`` is absent."""
        return display_name(self.tag)


def parse_language(code: str) -> Language:
    """Parse ``code``; raise ``ValueError`` with a one-line reason when it is not a valid
    BCP-47 tag or FLORES-200 code."""
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"a language is {EXAMPLES}")
    return _parse(code.strip())


@lru_cache(maxsize=512)
def _parse(code: str) -> Language:
    if "_" in code and not FLORES_CODE.match(code):
        raise ValueError(f"{code!r} is neither {EXAMPLES} (BCP-47 separates with '-')")
    tag = code.replace("_", "-")
    if not langcodes.tag_is_valid(tag):
        raise ValueError(f"{code!r} is not {EXAMPLES}")
    parsed = langcodes.Language.get(tag)
    base = parsed.language or "und"
    script = parsed.script
    if script is None and base not in NO_SCRIPT:
        script = parsed.maximize().script
    return Language(code=code, tag=langcodes.standardize_tag(tag), base=base, script=script)


def language_or_none(code: str | None) -> Language | None:
    """:func:`parse_language` for an optional code; ``None`` stays ``None``."""
    return None if code is None else parse_language(code)


@lru_cache(maxsize=512)
def display_name(tag: str) -> str:
    """English name of a tag when ``language-data`` is installed, else the tag."""
    try:
        return str(langcodes.Language.get(tag).display_name())
    except (ImportError, LookupError):
        return tag
