"""Small repairs to HTML before a parser reads it, so that what a browser shows is what is kept."""

import re

# </body> and </html> closing tags: a browser keeps whatever follows them in the body, while
# libxml2 (lxml, inscriptis) drops it; without them every parser closes the document at its end.
# Read token by token, in one pass, so that the same text inside a comment or an attribute's value
# (`href="…?q=</body>"`) is kept: "<!-->" and "<!--->" close at once, "--!>" closes a comment, and
# a tag's quoted values are skipped whole, as a browser reads them.
_TOKENS = re.compile(
    r"<!--(?:-?>|.*?(?:--!?>|\Z))"  # An unclosed comment runs to the end, as in a browser.
    r"|(?P<end></(?:body|html)\s*>)"
    r"""|<[a-z][^\s/>]*(?:"[^"]*"|'[^']*'|[^"'>])*>?""",
    re.IGNORECASE | re.DOTALL,
)


def html_end_tags_drop(html: str) -> str:
    """Return the HTML without its </body> and </html> tags, so no parser drops what comes after them."""
    return _TOKENS.sub(lambda token: "" if token.group("end") else token.group(0), html)


# An XML declaration opening a document: lxml refuses a text string that declares its encoding,
# and the declaration says nothing to a reader.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def html_xml_declaration_drop(html: str) -> str:
    """Return the HTML without the XML declaration that may open it."""
    return _XML_DECLARATION.sub("", html, count=1)
