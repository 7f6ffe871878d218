"""The API's JSON parser: DRF's, reading UTF-8 alone and refusing nesting too deep to read with a 400."""

import codecs

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 415 to a charset other than UTF-8 and 400 to nesting too deep."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        if codecs.lookup(encoding).name != "utf-8":
            # JSON between systems is UTF-8 (RFC 8259): a body in UTF-7 or Latin-1 would be read
            # into other text than any other reader of the same bytes sees.
            raise UnsupportedMediaType(media_type, detail=f"JSON is read as UTF-8 only, not {encoding}.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's decoder gives up on nesting a few thousand levels deep: the client's input.
            raise ParseError("JSON parse error - nested too deeply to read.") from None
