"""The API's JSON parser: DRF's, with nesting too deep to read refused as a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 400 to nesting too deep to read instead of a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's decoder gives up on nesting a few thousand levels deep: the client's input.
            raise ParseError("JSON parse error - nested too deeply to read.") from None
