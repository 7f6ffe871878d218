"""Small repairs to HTML before a parser reads it, so that what a browser shows is what is kept."""

import re

# </body> and </html> closing tags anywhere: a browser keeps whatever follows them in the body, while
# libxml2 (lxml, inscriptis) drops it; without them every parser closes the document at its end.
_END_TAGS = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)


def html_end_tags_drop(html: str) -> str:
    """Return the HTML without </body> and </html>, so no parser drops what comes after them."""
    return _END_TAGS.sub("", html)
