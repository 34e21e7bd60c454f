"""What keeps a run folder's text from running as script in the report's pages.

Every value read from a run folder is untrusted: it reaches HTML escaped (`escape`), JSON for a
page's script sits in a `<script type="application/json">` block with `<`, `>` and `&` escaped
(`script_json`: no `</script>` or `<!--` can end or change the block), and every page carries a
Content-Security-Policy that lets only the report's own script files (and an inline script the
report wrote, by its hash) run: no inline event handler, no `javascript:` URL, nothing remote.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence

JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def escape(text: object) -> str:
    """Text as HTML, safe in element content and in quoted attribute values."""
    return html.escape(str(text), quote=True)


def script_json(text: str) -> str:
    """JSON text made safe inside a <script> element; JSON.parse reads back the same value."""
    return text.translate(JSON_ESCAPES)


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def csp_meta(inline_scripts: Sequence[str] = ()) -> str:
    """A page's Content-Security-Policy: scripts only from the report's own files ('self') and the
    given inline scripts; styles may be inline (plotly sets them); no frames, forms, or network."""
    scripts = " ".join(["'self'", *(script_hash(s) for s in inline_scripts)])
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'; frame-src 'none'"
    )
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
