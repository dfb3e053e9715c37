"""Data embedded in the report's HTML, escaped so that no name can break out of it.

Model, task, example and rule names come from users and datasets.  Inside a ``<script>``
element the HTML parser ends the script at ``</script`` and changes state at ``<!--``, so
JSON placed there has ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e`` and
``\\u0026`` (the same string once parsed), and U+2028/U+2029 as ``\\u2028``/``\\u2029``
(line terminators in older JavaScript).  Text and attributes go through :func:`html.escape`.
"""

from __future__ import annotations

import json
from typing import Any

_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside any ``<script>`` element.

    >>> script_json({"model": "</script><!--"})
    '{"model": "\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    >>> json.loads(script_json({"model": "</script><!--"}))["model"]
    '</script><!--'
    """
    return json.dumps(data, ensure_ascii=False, default=str).translate(_SCRIPT_UNSAFE)
