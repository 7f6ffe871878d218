"""Small repairs to HTML before a parser reads it, so that what a browser shows is what is kept."""

import re

# </body> and </html> closing tags anywhere: a browser keeps whatever follows them in the body, while
# libxml2 (lxml, inscriptis) drops it; without them every parser closes the document at its end.
_END_TAGS = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)


def html_end_tags_drop(html: str) -> str:
    """Return the HTML without </body> and </html>, so no parser drops what comes after them."""
    return _END_TAGS.sub("", html)


# An XML declaration opening a document: lxml refuses a text string that declares its encoding,
# and the declaration says nothing to a reader.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def html_xml_declaration_drop(html: str) -> str:
    """Return the HTML without the XML declaration that may open it."""
    return _XML_DECLARATION.sub("", html, count=1)
